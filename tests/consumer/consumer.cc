// A program outside the cqrs tree: writes one entity through the writer, reads it back through
// the readers with the write's seq as min_seq, then from this host's read store (LocalReader).
//   consumer <writer endpoint> <reader endpoint> <data dir> <key>
// Prints "consumer <library version> seq <seq>" and exits 0, or names what failed and exits 1.
#include <base/version.h>
#include <client/client.h>
#include <client/local_reader.h>

#include <cstdio>
#include <string>
#include <variant>

namespace {
int Fail(const char* what, const std::string& message) {
  std::fprintf(stderr, "consumer: %s: %s\n", what, message.c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: consumer <writer endpoint> <reader endpoint> <data dir> <key>\n");
    return 2;
  }
  if (cqrs::Version() != CQRS_VERSION_STRING)
    return Fail("version", std::string(cqrs::Version()) + " linked, " CQRS_VERSION_STRING " built");
  cqrs::ClientOptions options;
  options.writer_endpoint = argv[1];
  options.reader_endpoints = {argv[2]};
  auto client = cqrs::Client::Connect(options);
  if (!client.ok()) return Fail("connect", client.status().ToString());

  const std::string key = argv[4];
  cqrs::CommandResult put = (*client)->Upsert("people", key, {{"n", std::int64_t{42}}});
  if (!put.ok()) return Fail("upsert", put.message);

  cqrs::QueryResult got = (*client)->Get("people", key);  // min_seq: this client's last write
  if (!got.ok()) return Fail("get", got.message);
  if (got.seq < put.seq || got.entities.size() != 1 || got.entities[0].fields.size() != 1 ||
      got.entities[0].fields[0].value != cqrs::Value(std::int64_t{42}))
    return Fail("get", "not the entity written");

  cqrs::LocalReaderOptions local_options;
  local_options.data_dir = argv[3];
  auto local = cqrs::LocalReader::Open(local_options);
  if (!local.ok()) return Fail("local reader", local.status().ToString());
  cqrs::LocalReadOptions at;
  at.min_seq = put.seq;
  cqrs::LocalEntity entity;
  std::uint64_t seq = 0;
  cqrs::Status s = (*local)->Get("people", key, at, &entity, &seq);
  if (!s.ok()) return Fail("local get", s.ToString());
  if (entity.key != key || entity.version != put.versions.at(0) || seq < put.seq)
    return Fail("local get", "not the entity written");
  (*local)->Release();

  std::printf("consumer %s seq %llu\n", std::string(cqrs::Version()).c_str(),
              static_cast<unsigned long long>(put.seq));
  return 0;
}
