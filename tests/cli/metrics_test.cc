// The Prometheus exposition and the readiness rule of `cqrs metrics`, from hand-made samples.
#include "cli/metrics.h"

#include <catch2/catch.hpp>

namespace cqrs::cli {
namespace {

ProcessSample Process(int slot, const std::string& role, bool alive) {
  ProcessSample p;
  p.slot = slot;
  p.role = role;
  p.pid = 100 + static_cast<std::uint64_t>(slot);
  p.alive = alive;
  return p;
}

StatsSample Pipeline() {
  StatsSample s;
  s.committed = 120;
  s.applied = 100;
  s.processes = {Process(shm::kWriterSlot, "writer", true),
                 Process(shm::kProjectorSlot, "projector", true),
                 Process(shm::kFirstReaderSlot, "reader 0", true)};
  s.processes[0].counters[shm::kRequests] = 7;
  s.processes[0].latency[0] = 2;  // under 2 µs
  s.processes[0].latency[3] = 5;  // 8..16 µs
  return s;
}

}  // namespace

TEST_CASE("RenderPrometheus: gauges, counters by role, the latency histogram", "[cli][metrics]") {
  const std::string text = RenderPrometheus(Pipeline(), true);
  CHECK_THAT(text, Catch::Contains("# TYPE cqrs_up gauge\ncqrs_up 1\n"));
  CHECK_THAT(text, Catch::Contains("\ncqrs_writer_committed_seq 120\n"));
  CHECK_THAT(text, Catch::Contains("\ncqrs_projector_behind_events 20\n"));
  CHECK_THAT(text, Catch::Contains("\ncqrs_process_up{role=\"reader 0\",pid=\"108\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE cqrs_requests_total counter\n"
                                   "cqrs_requests_total{role=\"writer\"} 7\n"));
  CHECK_THAT(text, Catch::Contains(
                       "cqrs_reply_latency_seconds_bucket{role=\"writer\",le=\"2e-06\"} 2\n"
                       "cqrs_reply_latency_seconds_bucket{role=\"writer\",le=\"4e-06\"} 2\n"
                       "cqrs_reply_latency_seconds_bucket{role=\"writer\",le=\"8e-06\"} 2\n"
                       "cqrs_reply_latency_seconds_bucket{role=\"writer\",le=\"1.6e-05\"} 7\n"));
  CHECK_THAT(text,
             Catch::Contains("cqrs_reply_latency_seconds_bucket{role=\"writer\",le=\"+Inf\"} 7\n"
                             "cqrs_reply_latency_seconds_count{role=\"writer\"} 7\n"));
  CHECK_THAT(text, !Catch::Contains("cqrs_reply_latency_seconds_count{role=\"projector\"}"));
  // No control block: only that, and the version.
  const std::string down = RenderPrometheus(StatsSample(), false);
  CHECK_THAT(down, Catch::Contains("cqrs_up 0\n") && Catch::Contains("cqrs_info{version=\""));
  CHECK_THAT(down, !Catch::Contains("cqrs_writer_committed_seq"));
}

TEST_CASE("NotReady: a log source, the projector, a reader, and a bounded lag", "[cli][metrics]") {
  StatsSample s = Pipeline();
  CHECK(NotReady(s, 20).empty());
  CHECK(NotReady(s, 19) == "the projector is 20 events behind (more than 19)");
  s.processes[2].alive = false;
  CHECK(NotReady(s, 100) == "no reader is running");
  CHECK(DownProcesses(s) == std::vector<std::string>{"reader 0 (pid 108)"});
  s.processes[1].alive = false;
  CHECK(NotReady(s, 100) == "the projector is not running");
  s.processes[0].alive = false;
  CHECK(NotReady(s, 100) == "the writer is not running");
  // A replica host: no writer ever ran there; cqrs-replica holds the mirror's slot.
  StatsSample replica = Pipeline();
  replica.processes[0] = Process(shm::kMirrorSlot, "nats", true);
  CHECK(NotReady(replica, 100).empty());
  replica.processes[0].alive = false;
  CHECK(NotReady(replica, 100) == "no writer or replica is running");
}

TEST_CASE("RenderStatusPage: marked numbers, rates, a down process, escaping", "[cli][metrics]") {
  StatsSample then = Pipeline();
  then.taken_ns = 1'000'000'000;
  StatsSample now = Pipeline();
  now.taken_ns = 3'000'000'000;  // 2 s later
  now.processes[0].counters[shm::kRequests] = 207;
  now.processes[2].alive = false;
  const std::string page = RenderStatusPage(then, now, true, "/var/lib/<cqrs>&\"x\"");
  CHECK_THAT(page, Catch::Contains("<meta http-equiv=\"refresh\" content=\"1\">"));
  CHECK_THAT(page, Catch::Contains("data-metric=\"cqrs_writer_committed_seq\" "
                                   "data-value=\"120\">120</td>"));
  CHECK_THAT(page, Catch::Contains("data-metric=\"cqrs_projector_behind_events\" "
                                   "data-value=\"20\">20</td>"));
  CHECK_THAT(page, Catch::Contains("data-metric=\"cqrs_requests_total{role=&quot;writer&quot;}\" "
                                   "data-value=\"207\">207</td>"));
  CHECK_THAT(page, Catch::Contains("100 requests/s"));  // (207 - 7) requests over 2 s
  CHECK_THAT(page, Catch::Contains("<g class=\"process down\">") && Catch::Contains("DOWN") &&
                       Catch::Contains("<svg class=\"latency\""));
  // The data dir is text, never markup.
  CHECK_THAT(page, Catch::Contains("/var/lib/&lt;cqrs&gt;&amp;&quot;x&quot;"));
  CHECK_THAT(page, !Catch::Contains("<cqrs>"));
  // No outside assets: nothing loaded from elsewhere.
  CHECK_THAT(page,
             !Catch::Contains("<script") && !Catch::Contains("src=") && !Catch::Contains("<link"));
  // No rates without an earlier sample; no control block: says so.
  CHECK_THAT(RenderStatusPage(StatsSample(), now, true, "d"), Catch::Contains("– requests/s"));
  CHECK_THAT(RenderStatusPage(StatsSample(), StatsSample(), false, "d"),
             Catch::Contains("The pipeline is not running"));
}

}  // namespace cqrs::cli
