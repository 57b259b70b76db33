// A private PostgreSQL cluster for tests.
#include "tests/support/postgres_server.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

// LeakSanitizer (sanitized builds only; never called otherwise): libpqxx 6.4 leaks a libpq
// result when it finds a connection broken (docs/DEPENDENCY_FACTS.md, fact 14).
extern "C" const char* __lsan_default_suppressions() { return "leak:libpq.so\n"; }

namespace cqrs::testing {
namespace {

std::string FindBinDir() {
  std::error_code ec;
  std::string best;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string bin = entry.path().string() + "/bin";
    if (std::filesystem::exists(bin + "/initdb") && bin > best) best = bin;
  }
  INFO("no /usr/lib/postgresql/<version>/bin/initdb: scripts/install-deps installs postgresql");
  REQUIRE(!best.empty());
  return best;
}

}  // namespace

PostgresServer::PostgresServer() : bin_(FindBinDir()) {
  // Its own directory under /tmp, owned by the cluster's owner: PostgreSQL wants its data
  // directory private to it, and the socket's path short.
  char pattern[] = "/tmp/cqrs-pg-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  dir_ = pattern;
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    REQUIRE(pw != nullptr);
    owner_ = "postgres";
    REQUIRE(chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) == 0);
  }
  Run(
      fmt::format("{}/initdb -D {}/data -U postgres -A trust -E UTF8 --locale=C --no-sync "
                  ">{}/initdb.log 2>&1",
                  bin_, dir_, dir_));
  WriteFile(dir_ + "/conf", fmt::format("listen_addresses = ''\nunix_socket_directories = '{}'\n"
                                        "max_connections = 40\nshared_buffers = 32MB\n",
                                        dir_));
  Run(fmt::format("cat {0}/conf >> {0}/data/postgresql.conf", dir_));
  Start();
}

PostgresServer::~PostgresServer() {
  const std::string cmd =
      fmt::format("{}/pg_ctl -D {}/data -m immediate stop >/dev/null 2>&1", bin_, dir_);
  (void)std::system((owner_.empty() ? cmd : "runuser -u postgres -- " + cmd).c_str());
  if (std::getenv("CQRS_TEST_KEEP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PostgresServer::Run(const std::string& command) const {
  const std::string quoted = fmt::format("'{}'", command);  // commands hold no single quote
  return RunShell(owner_.empty() ? command : "runuser -u postgres -- sh -c " + quoted,
                  dir_ + "/server.log");
}

std::string PostgresServer::dsn(const std::string& user, const std::string& db) const {
  return fmt::format("host={} port=5432 user={} dbname={}", dir_, user, db);
}

void PostgresServer::Start() {
  Run(fmt::format("{}/pg_ctl -D {}/data -l {}/server.log -w -t 60 start >/dev/null", bin_, dir_,
                  dir_));
}

void PostgresServer::Stop(const std::string& mode) {
  Run(fmt::format("{}/pg_ctl -D {}/data -m {} -w stop >/dev/null", bin_, dir_, mode));
}

pqxx::result PostgresServer::Exec(const std::string& sql, const std::string& user) const {
  pqxx::connection c(dsn(user));
  pqxx::nontransaction n(c);
  return n.exec(sql);
}

}  // namespace cqrs::testing
