// Test support for the PostgreSQL query side: a private PostgreSQL cluster (Debian's initdb and
// pg_ctl, from /usr/lib/postgresql/<version>/bin) in a temp dir, unix socket only, that the test
// starts and stops. Run as the `postgres` user when the test runs as root (PostgreSQL refuses
// root). Debian's own cluster is left alone.
#pragma once

#include <pqxx/pqxx>
#include <string>

#include "tests/support/test_support.h"

namespace cqrs::testing {

class PostgresServer {
 public:
  // initdb (trust authentication on the socket, superuser `postgres`) and start.
  PostgresServer();
  ~PostgresServer();  // stops it (-m immediate) and removes the cluster
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A libpq connection string to database `db` as `user`.
  std::string dsn(const std::string& user = "postgres", const std::string& db = "postgres") const;
  void Stop(const std::string& mode);  // pg_ctl stop -m fast|immediate
  void Start();                        // pg_ctl start -w
  // Runs SQL as the superuser (or `user`), outside a transaction; returns its result.
  pqxx::result Exec(const std::string& sql, const std::string& user = "postgres") const;
  const std::string& dir() const { return dir_; }

 private:
  std::string Run(const std::string& command) const;  // as the cluster's owner
  std::string bin_, dir_, owner_;
};

}  // namespace cqrs::testing
