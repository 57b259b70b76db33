// The load generator.
#include "cli/load.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <deque>
#include <numeric>
#include <thread>
#include <variant>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "base/version.h"
#include "client/client.h"

namespace cqrs::cli {
namespace {

// The orders shape's statuses: what a put draws and a find looks for.
constexpr std::string_view kOrderStatuses[] = {"open", "paid", "shipped", "delivered", "cancelled"};

bool HasReads(const Mix& mix) {
  return mix[kGet] > 0 || mix[kScan] > 0 || mix[kRmw] > 0 || mix[kFind] > 0 || mix[kAgg] > 0 ||
         mix[kModify] > 0;
}

constexpr std::uint64_t kIdlePollNs = 50'000'000;

// Σ_{i=1..n} 1/i^theta: exact for the first 10M terms, then the Euler–Maclaurin tail (its error
// is far below the sampling noise of any run).
double Zeta(std::uint64_t n, double theta) {
  constexpr std::uint64_t kExact = 10'000'000;
  double sum = 0;
  const std::uint64_t exact = std::min(n, kExact);
  for (std::uint64_t i = 1; i <= exact; ++i) sum += std::pow(static_cast<double>(i), -theta);
  if (n > exact) {
    auto a = static_cast<double>(exact), b = static_cast<double>(n);
    sum += (std::pow(b, 1 - theta) - std::pow(a, 1 - theta)) / (1 - theta) +
           (std::pow(b, -theta) - std::pow(a, -theta)) / 2;
  }
  return sum;
}

// An rmw whose write was acknowledged and whose read is still to be sent.
struct PendingRead {
  std::uint64_t key;
  std::uint64_t seq;
  std::uint64_t submitted_ns;
  std::uint64_t acked_ns;
  bool measured;
};

// A modify whose read was answered and whose write is still to be sent.
struct PendingWrite {
  std::uint64_t key;
  std::uint64_t submitted_ns;
  bool measured;
};

struct Shared {
  const LoadOptions& options;
  const KeyChooser& keys;
  zmq::context_t& context;
  std::uint64_t measure_from_ns;  // operations due before this are warm-up
  std::atomic<std::uint64_t> issued{0};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t>& inserted;  // keys inserts added beyond options.keys
};

// One connection (a Client with its sockets) and the operations it has in flight.
struct Connection {
  std::unique_ptr<Client> client;
  std::mt19937_64 rng;
  std::discrete_distribution<int> op_dist;
  std::deque<PendingRead> reads;    // rmw reads to send
  std::deque<PendingWrite> writes;  // modify writes to send
  std::size_t outstanding = 0;
  std::uint64_t next_due_ns = 0;  // open loop: when the next operation is due
};

// A thread serving some of the connections with one zmq::poll.
class LoadThread {
 public:
  LoadThread(Shared& shared, std::uint32_t first, std::uint32_t count)
      : s_(shared), o_(shared.options), first_(first), count_(count) {}

  void Run(std::uint64_t begin_ns) {
    try {
      RunOrThrow(begin_ns);
    } catch (const std::exception& e) {
      status_ = Status(Code::kInternal, fmt::format("load thread: {}", e.what()));
    }
  }
  std::atomic<std::uint64_t> completed{0};  // all outcomes, for the progress line
  LoadReport report;
  const Status& status() const { return status_; }

 private:
  void RunOrThrow(std::uint64_t begin_ns) {
    ClientOptions co;
    co.writer_endpoint = o_.writer_endpoint;
    co.window = o_.pipeline;
    co.max_query_batch = o_.query_batch;
    co.max_command_batch = o_.command_batch;
    co.curve = o_.curve;
    co.attempt_timeout = std::chrono::milliseconds(2000);
    const double interval = o_.rate > 0 ? 1e9 * o_.clients / o_.rate : 0;
    // A mix without reads leaves the readers alone: no socket of theirs to poll.
    const bool reads = HasReads(o_.mix);
    for (std::uint32_t i = 0; i < count_; ++i) {
      const std::uint32_t index = first_ + i;
      // Each connection reads from one reader (spread round-robin), as redis-benchmark's
      // connections each talk to one server: a DEALER connected to all readers would split its
      // pipeline over them and halve what ZeroMQ batches per TCP write.
      co.reader_endpoints.clear();
      if (!o_.reader_endpoints.empty() && reads)
        co.reader_endpoints.push_back(o_.reader_endpoints[index % o_.reader_endpoints.size()]);
      auto connected = Client::Connect(co, &s_.context);
      if (!connected.ok()) {
        status_ = connected.status();
        return;
      }
      Connection& c = connections_.emplace_back();
      c.client = std::move(connected).value();
      c.rng.seed(0x9E3779B97F4A7C15ull * (index + 1));
      c.op_dist = std::discrete_distribution<int>(o_.mix.begin(), o_.mix.end());
      // Stagger the connections' schedules over one interval.
      c.next_due_ns = begin_ns + static_cast<std::uint64_t>(interval * index / o_.clients);
    }
    value_.assign(o_.value_size, 'x');
    put_ = Upsert(o_.collection, "", {{"v", value_}});
    if (o_.shape == LoadShape::kOrders)  // in name order, as the writer stores them
      put_.fields = {{"amount", std::int64_t{0}},
                     {"customer", std::string(16, ' ')},
                     {"status", std::string(16, ' ')},
                     {"v", value_}};
    const auto step = static_cast<std::uint64_t>(interval);
    std::vector<zmq::pollitem_t> items(connections_.size() * Client::kMaxPollItems);
    std::vector<std::size_t> counts(connections_.size());
    for (;;) {
      std::uint64_t now = MonoNs();
      bool busy = false;
      std::uint64_t wake = now + kIdlePollNs;
      for (Connection& c : connections_) {
        SendReads(c);
        SendWrites(c);
        while (c.outstanding < o_.pipeline && !s_.stop.load(std::memory_order_relaxed)) {
          std::uint64_t start = now;
          if (step > 0) {
            if (c.next_due_ns > now) break;
            start = c.next_due_ns;  // latency counts from when it was due
            c.next_due_ns += step;
          }
          if (o_.requests > 0 && s_.issued.fetch_add(1, std::memory_order_relaxed) >= o_.requests)
            break;
          Issue(c, start);
        }
        busy |= c.outstanding > 0;
        wake = std::min(wake, c.client->next_timer_ns());
        if (step > 0 && c.outstanding < o_.pipeline) wake = std::min(wake, c.next_due_ns);
      }
      const bool out_of_work = s_.stop.load(std::memory_order_relaxed) ||
                               (o_.requests > 0 && s_.issued.load() >= o_.requests);
      if (!busy && out_of_work) break;
      std::size_t n = 0;
      for (std::size_t i = 0; i < connections_.size(); ++i) {
        counts[i] = connections_[i].client->PollItems(&items[n]);
        n += counts[i];
      }
      now = MonoNs();
      // zmq::poll waits in whole milliseconds: round up, so an open-loop schedule is served in
      // bursts at most 1 ms late (and counted from when due) rather than by spinning, which
      // would take the CPU the system under test needs.
      const std::uint64_t wait_ns = wake > now ? wake - now : 0;
      zmq::poll(items.data(), n, std::chrono::milliseconds((wait_ns + 999'999) / 1'000'000));
      n = 0;
      for (std::size_t i = 0; i < connections_.size(); ++i) {
        connections_[i].client->ServeReady(&items[n], counts[i]);
        n += counts[i];
      }
    }
  }

  std::string_view KeyName(std::uint64_t number) {
    int n = std::snprintf(key_, sizeof key_, "k%010llu", static_cast<unsigned long long>(number));
    return {key_, static_cast<std::size_t>(n)};
  }

  void Record(int op, bool measured, Code status, bool indeterminate, std::uint64_t latency_ns) {
    if (!measured) return;
    OpStats& st = report.ops[static_cast<std::size_t>(op)];
    if (status == Code::kOk) {
      ++st.ok;
      st.latency_ns.Record(latency_ns);
    } else if (indeterminate) {
      ++st.indeterminate;
    } else {
      ++st.failed;
    }
  }

  void Done(Connection& c) {
    --c.outstanding;
    completed.fetch_add(1, std::memory_order_relaxed);
  }

  void Issue(Connection& c, std::uint64_t start) {
    const int op = c.op_dist(c.rng);
    const bool measured = start >= s_.measure_from_ns;
    const std::uint64_t key = s_.keys.Next(c.rng);
    ++c.outstanding;
    ReadOptions any;
    any.min_seq = 0;
    if (op == kModify) {  // the write goes out from the loop (not from a callback)
      get_.key.assign(KeyName(key));
      c.client->SubmitQuery(get_, any, [&c, key, start, measured, this](const QueryResult& q) {
        if (q.ok() || q.status == Code::kNotFound) {
          c.writes.push_back({key, start, measured});
          return;
        }
        Done(c);
        Record(kModify, measured, q.status, false, MonoNs() - start);
      });
      return;
    }
    if (op == kGet || op == kScan || op == kFind || op == kAgg) {
      // An absent key or an empty page is a complete answer for a read.
      auto done = [this, &c, op, start, measured](const QueryResult& q) {
        Done(c);
        Code code = q.status == Code::kNotFound ? Code::kOk : q.status;
        Record(op, measured, code, false, MonoNs() - start);
      };
      if (op == kGet) {
        get_.key.assign(KeyName(key));
        c.client->SubmitQuery(get_, any, done);
      } else if (op == kScan) {
        scan_.start.assign(KeyName(key));
        scan_.limit = o_.scan_length_uniform
                          ? 1 + static_cast<std::uint32_t>(c.rng() % o_.scan_limit)
                          : o_.scan_limit;
        c.client->SubmitQuery(scan_, any, done);
      } else if (op == kFind) {
        find_.eq = std::string(kOrderStatuses[c.rng() % std::size(kOrderStatuses)]);
        c.client->SubmitQuery(find_, any, done);
      } else {
        c.client->SubmitQuery(aggregate_, any, done);
      }
      return;
    }
    const std::uint64_t written =
        op == kInsert ? o_.keys + s_.inserted.fetch_add(1, std::memory_order_relaxed) : key;
    put_.key.assign(KeyName(written));
    if (o_.shape == LoadShape::kOrders) DrawOrder(c.rng);
    c.client->Submit({&put_, 1}, [this, &c, op, key, start, measured](const CommandResult& r) {
      if (op == kRmw && r.ok()) {  // the read goes out from the loop (not from a callback)
        c.reads.push_back({key, r.seq, start, MonoNs(), measured});
        return;
      }
      Done(c);
      Record(op, measured, r.status, r.indeterminate, MonoNs() - start);
    });
  }

  // New values for the orders shape's fields, in place (no allocation per put).
  void DrawOrder(std::mt19937_64& rng) {
    const std::uint64_t r = rng();
    put_.fields[0].value = static_cast<std::int64_t>(1 + r % 10000);
    char customer[16];
    const int n = std::snprintf(customer, sizeof customer, "c%05llu",
                                static_cast<unsigned long long>((r >> 16) % 10000));
    std::get<std::string>(put_.fields[1].value).assign(customer, static_cast<std::size_t>(n));
    std::get<std::string>(put_.fields[2].value)
        .assign(kOrderStatuses[(r >> 32) % std::size(kOrderStatuses)]);
  }

  void SendReads(Connection& c) {
    while (!c.reads.empty()) {
      PendingRead r = c.reads.front();
      c.reads.pop_front();
      ReadOptions at;
      at.min_seq = r.seq;
      get_.key.assign(KeyName(r.key));
      c.client->SubmitQuery(get_, at, [this, &c, r](const QueryResult& q) {
        Done(c);
        std::uint64_t now = MonoNs();
        bool ok = q.ok() && q.seq >= r.seq;
        Code code = ok ? Code::kOk : (q.ok() ? Code::kInternal : q.status);
        Record(kRmw, r.measured, code, false, now - r.submitted_ns);
        Record(kVisible, r.measured, code, false, now - r.acked_ns);
      });
    }
  }

  void SendWrites(Connection& c) {
    while (!c.writes.empty()) {
      PendingWrite w = c.writes.front();
      c.writes.pop_front();
      put_.key.assign(KeyName(w.key));
      // Modified: one byte of `v` changes each time.
      auto& v = std::get<std::string>(put_.fields[o_.shape == LoadShape::kOrders ? 3 : 0].value);
      if (!v.empty()) v[w.submitted_ns % v.size()] ^= 1;
      if (o_.shape == LoadShape::kOrders) DrawOrder(c.rng);
      c.client->Submit({&put_, 1}, [this, &c, w](const CommandResult& r) {
        Done(c);
        Record(kModify, w.measured, r.status, r.indeterminate, MonoNs() - w.submitted_ns);
      });
    }
  }

  Shared& s_;
  const LoadOptions& o_;
  std::uint32_t first_, count_;
  std::deque<Connection> connections_;  // stable addresses: callbacks hold references
  Status status_;
  std::string value_;
  CommandSpec put_;
  wire::GetQuery get_{o_.collection, ""};
  wire::ScanQuery scan_{o_.collection, "", "", "", "", 0};
  wire::FindQuery find_{o_.collection, "status", {}, {}, {}, "", o_.scan_limit};
  wire::AggregateQuery aggregate_{o_.collection, o_.aggregate};
  char key_[32];
};

}  // namespace

KeyChooser::KeyChooser(KeyDistribution distribution, std::uint64_t keys, double theta,
                       const std::atomic<std::uint64_t>* inserted)
    : distribution_(distribution),
      keys_(std::max<std::uint64_t>(keys, 1)),
      theta_(theta),
      inserted_(inserted) {
  if (distribution_ != KeyDistribution::kZipf && distribution_ != KeyDistribution::kLatest) return;
  zetan_ = Zeta(keys_, theta_);
  alpha_ = 1 / (1 - theta_);
  const double zeta2 = Zeta(2, theta_);
  eta_ = (1 - std::pow(2.0 / static_cast<double>(keys_), 1 - theta_)) / (1 - zeta2 / zetan_);
  constexpr std::uint64_t kHead = 1024;
  double cumulative = 0;
  for (std::uint64_t r = 0; r < std::min(keys_, kHead); ++r)
    head_cdf_.push_back(cumulative += RankProbability(r));
  for (std::uint64_t p : {2654435761ull, 2246822519ull, 3266489917ull})
    if (std::gcd(p, keys_) == 1) {
      scatter_ = p % keys_ == 0 ? 1 : p;
      break;
    }
}

std::uint64_t KeyChooser::KeyOfRank(std::uint64_t rank) const {
  __extension__ using Uint128 = unsigned __int128;  // rank * scatter_ may pass 2^64
  return static_cast<std::uint64_t>(static_cast<Uint128>(rank) * scatter_ % keys_);
}

double KeyChooser::RankProbability(std::uint64_t rank) const {
  return std::pow(static_cast<double>(rank + 1), -theta_) / zetan_;
}

std::uint64_t KeyChooser::Next(std::mt19937_64& rng) const {
  if (distribution_ == KeyDistribution::kUniform)
    return std::uniform_int_distribution<std::uint64_t>(0, keys_ - 1)(rng);
  if (distribution_ == KeyDistribution::kSequential)
    return next_.fetch_add(1, std::memory_order_relaxed) % keys_;
  const std::uint64_t rank = ZipfRank(rng);
  if (distribution_ == KeyDistribution::kZipf) return KeyOfRank(rank);
  // Latest: rank 0 is the newest key (YCSB's SkewedLatestGenerator); ranks are drawn over the
  // initial key space, so a key inserted since stays reachable while keys newer than it remain
  // fewer than `keys`.
  const std::uint64_t newest =
      keys_ - 1 + (inserted_ ? inserted_->load(std::memory_order_relaxed) : 0);
  return newest - std::min(rank, newest);
}

std::uint64_t KeyChooser::ZipfRank(std::mt19937_64& rng) const {
  const double u = std::uniform_real_distribution<double>(0, 1)(rng);
  auto head = std::upper_bound(head_cdf_.begin(), head_cdf_.end(), u);
  if (head != head_cdf_.end()) return static_cast<std::uint64_t>(head - head_cdf_.begin());
  auto rank = static_cast<std::uint64_t>(static_cast<double>(keys_) *
                                         std::pow(eta_ * u - eta_ + 1, alpha_));
  return std::clamp<std::uint64_t>(rank, head_cdf_.size(), keys_ - 1);
}

void OpStats::Merge(const OpStats& other) {
  ok += other.ok;
  failed += other.failed;
  indeterminate += other.indeterminate;
  latency_ns.Merge(other.latency_ns);
}

Result<Mix> ParseMix(std::string_view text) {
  Mix mix = {};
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return Error(Code::kInvalidArgument, "--mix part '{}' is not op=weight", part);
    std::string_view name = part.substr(0, eq), weight = part.substr(eq + 1);
    int op = -1;
    for (int i = 0; i < kMixOps; ++i)
      if (name == kLoadOpNames[i]) op = i;
    if (op < 0)
      return Error(Code::kInvalidArgument,
                   "--mix op '{}' is not put, get, scan, rmw, find, agg, insert or modify", name);
    std::uint32_t w = 0;
    auto [p, ec] = std::from_chars(weight.data(), weight.data() + weight.size(), w);
    if (ec != std::errc() || p != weight.data() + weight.size() || w > 1000000)
      return Error(Code::kInvalidArgument, "--mix weight '{}' of {} is not a number up to 1000000",
                   weight, name);
    mix[static_cast<std::size_t>(op)] = w;
  }
  if (std::accumulate(mix.begin(), mix.end(), 0u) == 0)
    return Status(Code::kInvalidArgument, "--mix needs at least one weight above 0");
  return mix;
}

Status ParseDistribution(std::string_view text, LoadOptions* o) {
  if (text == "uniform" || text == "sequential" || text == "latest") {
    o->distribution = text == "uniform"      ? KeyDistribution::kUniform
                      : text == "sequential" ? KeyDistribution::kSequential
                                             : KeyDistribution::kLatest;
    return OkStatus();
  }
  if (text.substr(0, 4) != "zipf" || (text.size() > 4 && text[4] != ':'))
    return Error(Code::kInvalidArgument,
                 "--distribution '{}' is not uniform, zipf, zipf:THETA, latest or sequential",
                 text);
  o->distribution = KeyDistribution::kZipf;
  if (text.size() == 4) return OkStatus();
  std::string_view theta = text.substr(5);
  double value = 0;
  auto [p, ec] = std::from_chars(theta.data(), theta.data() + theta.size(), value);
  if (ec != std::errc() || p != theta.data() + theta.size() || !(value > 0 && value < 1))
    return Error(Code::kInvalidArgument, "--distribution zipf theta '{}' is not a number in (0, 1)",
                 theta);
  o->zipf_theta = value;
  return OkStatus();
}

Status ParseShape(std::string_view text, LoadOptions* o) {
  if (text != "kv" && text != "orders")
    return Error(Code::kInvalidArgument, "--shape '{}' is not kv or orders", text);
  o->shape = text == "kv" ? LoadShape::kKv : LoadShape::kOrders;
  return OkStatus();
}

Result<WorkloadPreset> YcsbWorkload(std::string_view name) {
  // YCSB's core workloads (its workloads/workload[a-f] files): the operation mix and the request
  // distribution; records of 10 fields of 100 bytes are one value of 1,000 bytes here.
  if (name == "a") return WorkloadPreset{"get=50,put=50", "zipf", 1000, 100, false, "update heavy"};
  if (name == "b") return WorkloadPreset{"get=95,put=5", "zipf", 1000, 100, false, "read mostly"};
  if (name == "c") return WorkloadPreset{"get=100", "zipf", 1000, 100, false, "read only"};
  if (name == "d")
    return WorkloadPreset{"get=95,insert=5", "latest", 1000, 100, false, "read latest"};
  if (name == "e")
    return WorkloadPreset{"scan=95,insert=5", "zipf", 1000, 100, true, "short ranges"};
  if (name == "f")
    return WorkloadPreset{"get=50,modify=50", "zipf", 1000, 100, false, "read-modify-write"};
  return Error(Code::kInvalidArgument, "--workload '{}' is not one of YCSB's a, b, c, d, e, f",
               name);
}

Status ValidateLoadOptions(const LoadOptions& o) {
  if (o.writer_endpoint.empty()) return Status(Code::kInvalidArgument, "--writer is empty");
  if (HasReads(o.mix) && o.reader_endpoints.empty())
    return Status(Code::kInvalidArgument,
                  "--mix with get, scan, rmw, find, agg or modify needs a --reader");
  if (o.mix[kFind] > 0 && o.shape != LoadShape::kOrders)
    return Status(Code::kInvalidArgument,
                  "--mix with find needs --shape orders (it finds by the orders' status)");
  if (o.mix[kAgg] > 0 && o.aggregate.empty())
    return Status(Code::kInvalidArgument, "--mix with agg needs an --aggregate name");
  if (o.clients < 1 || o.clients > 1024)
    return Status(Code::kInvalidArgument, "--clients must be in 1..1024");
  if (o.threads > o.clients)
    return Status(Code::kInvalidArgument, "--threads must be at most --clients");
  if (o.pipeline < 1 || o.pipeline > 4096)
    return Status(Code::kInvalidArgument, "--pipeline must be in 1..4096");
  if (o.query_batch < 1 || o.query_batch > 256)
    return Status(Code::kInvalidArgument, "--query-batch must be in 1..256");
  if (o.command_batch < 1 || o.command_batch > 1024)
    return Status(Code::kInvalidArgument, "--command-batch must be in 1..1024");
  if (o.requests == 0 && !(o.duration_s > 0))
    return Status(Code::kInvalidArgument, "--duration must be positive (or give --requests)");
  if (!(o.warmup_s >= 0)) return Status(Code::kInvalidArgument, "--warmup must not be negative");
  if (!(o.rate >= 0) || o.rate > 1e8)
    return Status(Code::kInvalidArgument, "--rate must be in 0..100000000 (0: closed loop)");
  if (o.keys < 1) return Status(Code::kInvalidArgument, "--keys must be at least 1");
  if ((o.distribution == KeyDistribution::kZipf || o.distribution == KeyDistribution::kLatest) &&
      !(o.zipf_theta > 0 && o.zipf_theta < 1))
    return Status(Code::kInvalidArgument, "--distribution zipf theta must be in (0, 1)");
  if (o.value_size > 60000)
    return Status(Code::kInvalidArgument,
                  "--value-size must be at most 60000 (entities are at most 64 KiB)");
  if (o.scan_limit < 1 || o.scan_limit > 1000)
    return Status(Code::kInvalidArgument, "--scan-limit must be in 1..1000 (a reader's maximum)");
  if (std::accumulate(o.mix.begin(), o.mix.end(), 0u) == 0)
    return Status(Code::kInvalidArgument, "--mix needs at least one weight above 0");
  return OkStatus();
}

Result<LoadReport> RunLoad(const LoadOptions& o,
                           const std::function<void(const std::string&)>& progress) {
  CQRS_RETURN_IF_ERROR(ValidateLoadOptions(o));
  zmq::context_t context(1);
  std::atomic<std::uint64_t> inserted{0};
  const KeyChooser keys(o.distribution, o.keys, o.zipf_theta, &inserted);
  const std::uint64_t start = MonoNs();
  Shared shared{o,  keys, context, start + static_cast<std::uint64_t>(o.warmup_s * 1e9),
                {}, {},   inserted};
  const std::uint32_t thread_count =
      o.threads > 0 ? o.threads : std::min<std::uint32_t>(o.clients, 2);
  std::vector<std::unique_ptr<LoadThread>> workers;
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0, first = 0; t < thread_count; ++t) {
    std::uint32_t count = o.clients / thread_count + (t < o.clients % thread_count ? 1 : 0);
    workers.push_back(std::make_unique<LoadThread>(shared, first, count));
    threads.emplace_back(&LoadThread::Run, workers.back().get(), start);
    first += count;
  }
  auto total_completed = [&] {
    std::uint64_t n = 0;
    for (auto& w : workers) n += w->completed.load(std::memory_order_relaxed);
    return n;
  };
  std::uint64_t last_report = start, last_count = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::uint64_t now = MonoNs();
    double elapsed = static_cast<double>(now - start) / 1e9;
    bool done =
        o.requests > 0 ? shared.issued.load() >= o.requests : elapsed >= o.warmup_s + o.duration_s;
    if (done) shared.stop = true;
    if (progress && (now - last_report >= 1'000'000'000 || done)) {
      std::uint64_t count = total_completed();
      double rate =
          static_cast<double>(count - last_count) / (static_cast<double>(now - last_report) / 1e9);
      // How far, and the time left: by operations with --requests, else by the clock.
      std::string where = fmt::format("{} done", count);
      double left_s = 0;
      if (o.requests > 0) {
        where = fmt::format("{}/{} done ({:.0f}%)", count, o.requests,
                            100.0 * static_cast<double>(count) / static_cast<double>(o.requests));
        if (rate > 0 && count < o.requests) left_s = static_cast<double>(o.requests - count) / rate;
      } else {
        left_s = std::max(0.0, o.warmup_s + o.duration_s - elapsed);
      }
      progress(fmt::format("load: {:.1f}s {}, ETA {:.0f}s, {:.0f} ops/s{}", elapsed, where, left_s,
                           rate, now < shared.measure_from_ns ? " (warm-up)" : ""));
      last_report = now;
      last_count = count;
    }
    if (done) break;
  }
  const std::uint64_t stopped = MonoNs();
  for (auto& t : threads) t.join();
  LoadReport report;
  report.rate = o.rate;
  // Closed loop: the interval ends when the last operation was issued. Open loop: the
  // operations due in it, however late they completed.
  report.seconds = stopped > shared.measure_from_ns
                       ? static_cast<double>(stopped - shared.measure_from_ns) / 1e9
                       : 0;
  for (auto& w : workers) {
    CQRS_RETURN_IF_ERROR(w->status());
    for (int op = 0; op < kLoadOps; ++op)
      report.ops[static_cast<std::size_t>(op)].Merge(w->report.ops[static_cast<std::size_t>(op)]);
  }
  return report;
}

namespace {

// The latency columns of every report: label for text, key for JSON and CSV, quantile (-1: min,
// 2: max).
struct LatencyColumn {
  const char* text;
  const char* key;
  double q;
};
constexpr LatencyColumn kLatencyColumns[] = {{"min", "min", -1},          {"p50", "p50", 0.5},
                                             {"p90", "p90", 0.9},         {"p95", "p95", 0.95},
                                             {"p99", "p99", 0.99},        {"p99.9", "p999", 0.999},
                                             {"p99.99", "p9999", 0.9999}, {"max", "max", 2}};

std::uint64_t LatencyAt(const Histogram& h, double q) {
  if (q < 0) return h.min();
  if (q > 1) return h.max();
  return h.Percentile(q);
}

bool Ran(const OpStats& s) { return s.ok + s.failed + s.indeterminate > 0; }

}  // namespace

std::string LoadSettingsJson(const LoadOptions& o, std::string_view mix,
                             std::string_view distribution, std::string_view shape) {
  std::string out = "{\"mix\":";
  AppendJsonString(&out, mix);
  out += fmt::format(
      ",\"clients\":{},\"threads\":{},\"pipeline\":{},\"query_batch\":{},"
      "\"command_batch\":{},\"requests\":{},\"duration_s\":{},\"warmup_s\":{},\"rate\":{},"
      "\"keys\":{},\"distribution\":",
      o.clients, o.threads, o.pipeline, o.query_batch, o.command_batch, o.requests, o.duration_s,
      o.warmup_s, o.rate, o.keys);
  AppendJsonString(&out, distribution);
  out += fmt::format(",\"value_size\":{},\"scan_limit\":{},\"collection\":", o.value_size,
                     o.scan_limit);
  AppendJsonString(&out, o.collection);
  out += ",\"shape\":";
  AppendJsonString(&out, shape);
  out += ",\"aggregate\":";
  AppendJsonString(&out, o.aggregate);
  return out + "}";
}

std::string LoadReport::ToJson(std::string_view settings) const {
  std::string out = fmt::format("{{\"seconds\":{:.3f}", seconds);
  if (rate > 0) out += fmt::format(",\"rate\":{:.1f}", rate);
  for (int op = 0; op < kLoadOps; ++op) {
    const OpStats& s = ops[static_cast<std::size_t>(op)];
    if (!Ran(s)) continue;
    out += fmt::format(
        ",\"{}\":{{\"ok\":{},\"failed\":{},\"indeterminate\":{},\"per_sec\":{:.1f},"
        "\"latency_us\":{{",
        kLoadOpNames[op], s.ok, s.failed, s.indeterminate, throughput(op));
    for (const LatencyColumn& c : kLatencyColumns)
      out += fmt::format("\"{}\":{:.1f},", c.key,
                         static_cast<double>(LatencyAt(s.latency_ns, c.q)) / 1000.0);
    out += fmt::format("\"mean\":{:.1f}}}}}", s.latency_ns.mean() / 1000.0);
  }
  if (!settings.empty())
    out += fmt::format(",\"settings\":{},\"version\":\"{}\"", settings, CQRS_VERSION_STRING);
  return out + "}";
}

std::string LoadReport::ToText() const {
  std::string out =
      fmt::format("{:8} {:>10} {:>8} {:>6} {:>12}", "op", "ok", "failed", "indet", "per second");
  for (const LatencyColumn& c : kLatencyColumns) out += fmt::format(" {:>9}", c.text);
  out += "  (latency in ms)\n";
  for (int op = 0; op < kLoadOps; ++op) {
    const OpStats& s = ops[static_cast<std::size_t>(op)];
    if (!Ran(s)) continue;
    out += fmt::format("{:8} {:>10} {:>8} {:>6} {:>12.0f}", kLoadOpNames[op], s.ok, s.failed,
                       s.indeterminate, throughput(op));
    for (const LatencyColumn& c : kLatencyColumns)
      out += fmt::format(" {:>9.3f}", static_cast<double>(LatencyAt(s.latency_ns, c.q)) / 1e6);
    out += "\n";
  }
  out += fmt::format("measured over {:.2f} s", seconds);
  if (rate > 0)
    out += fmt::format(", open loop at {:.0f} ops/s (latency from when each was due)", rate);
  return out;
}

std::string LoadReport::ToCsv() const {
  std::string out = "op,ok,failed,indeterminate,per_sec";
  for (const LatencyColumn& c : kLatencyColumns) out += fmt::format(",{}_us", c.key);
  out += ",mean_us\n";
  for (int op = 0; op < kLoadOps; ++op) {
    const OpStats& s = ops[static_cast<std::size_t>(op)];
    if (!Ran(s)) continue;
    out += fmt::format("{},{},{},{},{:.1f}", kLoadOpNames[op], s.ok, s.failed, s.indeterminate,
                       throughput(op));
    for (const LatencyColumn& c : kLatencyColumns)
      out += fmt::format(",{:.1f}", static_cast<double>(LatencyAt(s.latency_ns, c.q)) / 1000.0);
    out += fmt::format(",{:.1f}\n", s.latency_ns.mean() / 1000.0);
  }
  return out;
}

// The layout of HdrHistogram's outputPercentileDistribution: a line per recorded bucket (value
// = the bucket's highest, capped at the max), then mean, deviation, max and count.
std::string LoadReport::Hgrm(int op) const {
  const Histogram& h = ops[static_cast<std::size_t>(op)].latency_ns;
  if (h.count() == 0) return {};
  const auto total = static_cast<double>(h.count());
  std::string out = fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile",
                                "TotalCount", "1/(1-Percentile)");
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  out += fmt::format("{:12.3f} {:2.12f} {:10d} {:14.2f}\n", ms(h.min()), 0.0, 0, 1.0);
  std::uint64_t seen = 0;
  double variance_sum = 0;
  const std::span<const std::uint64_t> counts = h.counts();
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    seen += counts[i];
    const std::uint64_t value = std::min(Histogram::BucketHigh(static_cast<int>(i)), h.max());
    const double d = ms(value) - h.mean() / 1e6;
    variance_sum += d * d * static_cast<double>(counts[i]);
    const double p = static_cast<double>(seen) / total;
    if (seen < h.count())
      out += fmt::format("{:12.3f} {:2.12f} {:10d} {:14.2f}\n", ms(value), p, seen, 1 / (1 - p));
    else
      out += fmt::format("{:12.3f} {:2.12f} {:10d}\n", ms(value), p, seen);
  }
  out += fmt::format("#[Mean    = {:12.3f}, StdDeviation   = {:12.3f}]\n", h.mean() / 1e6,
                     std::sqrt(variance_sum / total));
  out += fmt::format("#[Max     = {:12.3f}, Total count    = {:12d}]\n", ms(h.max()), h.count());
  out += fmt::format("#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", Histogram::kBuckets,
                     Histogram::kSub);
  return out;
}

}  // namespace cqrs::cli
