// Expiry of idle clients' idempotency records.
#include "writer/client_expiry.h"

#include "store/write_store_format.h"

namespace cqrs::writer {

Status ClientSweeper::Step(std::uint64_t now_ns, std::size_t max_clients, bool* pass_done) {
  *pass_done = false;
  auto begun = store::Txn::BeginWrite(log_.env());
  if (!begun.ok()) return begun.status();
  store::Txn txn = std::move(begun).value();
  const store::WriteDbs& dbs = log_.dbs();
  doomed_.clear();
  {
    auto cursor = store::Cursor::Open(txn, dbs.clients);
    if (!cursor.ok()) return cursor.status();
    std::string_view k = resume_, v;
    Status got =
        resume_.empty() ? cursor->Get(MDB_FIRST, &k, &v) : cursor->Get(MDB_SET_RANGE, &k, &v);
    std::size_t seen = 0;
    for (; got.ok() && seen < max_clients; got = cursor->Get(MDB_NEXT, &k, &v), ++seen) {
      store::ClientRecord record;
      CQRS_RETURN_IF_ERROR(store::ReadClientRecord(v, &record));
      if (now_ns > record.last_used_ns && now_ns - record.last_used_ns > expiry_ns_)
        doomed_.emplace_back(k);
    }
    stats_.examined += seen;
    if (got.ok()) {
      resume_.assign(k);  // the first record not looked at
    } else if (got.code() == Code::kNotFound) {
      resume_.clear();
      *pass_done = true;
      ++stats_.passes;
    } else {
      return got;
    }
  }
  if (doomed_.empty()) return OkStatus();  // nothing to commit: no fsync
  for (const std::string& client : doomed_) {
    // Its replies are the keys client ++ id (8 bytes); the length bytes inside a client key keep
    // another client's keys from sharing this prefix at this length.
    replies_.clear();
    {
      auto cursor = store::Cursor::Open(txn, dbs.replies);
      if (!cursor.ok()) return cursor.status();
      std::string_view k = client, v;
      for (Status got = cursor->Get(MDB_SET_RANGE, &k, &v);
           got.ok() && k.size() == client.size() + 8 && k.starts_with(client);
           got = cursor->Get(MDB_NEXT, &k, &v))
        replies_.emplace_back(k);
    }
    for (const std::string& r : replies_) CQRS_RETURN_IF_ERROR(txn.Del(dbs.replies, r));
    CQRS_RETURN_IF_ERROR(txn.Del(dbs.clients, client));
  }
  CQRS_RETURN_IF_ERROR(txn.Commit());
  stats_.expired += doomed_.size();
  return OkStatus();
}

}  // namespace cqrs::writer
