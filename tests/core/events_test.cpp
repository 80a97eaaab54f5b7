// The typed event stream: every kind survives JSON and the decoder refuses malformed objects clearly.
#include <gtest/gtest.h>

#include "attnbench/errors.h"
#include "attnbench/events.h"

namespace attnbench {
namespace {

TEST(Events, EveryKindRoundTrips) {
  RunStartedEvent started;
  started.run_id = 7;
  started.db = "/tmp/r.db";
  started.name = "sweep";
  started.total_points = 12;
  started.done_points = 4;
  started.resumed = true;
  started.device.id = "cpu";
  started.device.name = "test cpu";
  started.spec = {{"name", "sweep"}};
  started.provenance = {{"host.name", "box"}, {"gpu.driver", "580.95.05"}};
  PointStartedEvent point_started;
  point_started.run_id = 7;
  point_started.point.index = 5;
  point_started.point.model = findModel("mistral-7b");
  point_started.point.shape = modelShape(point_started.point.model, 1, 4096, DType::F16, false);
  point_started.point.kernel = KernelKind::Standard;
  PointFinishedEvent finished;
  finished.run_id = 7;
  finished.done = 5;
  finished.total = 12;
  finished.result.point = point_started.point;
  finished.result.samples_ms = {1.0, 2.0};
  finished.result.stats = computeStats(finished.result.samples_ms);
  RunFinishedEvent run_finished{7, RunStatus::Interrupted, {{"ok", 3}, {"skipped", 1}}, 2.5, 1.25};
  for (const RunEvent& event : std::vector<RunEvent>{started, point_started, finished, NoteEvent{"warning", "hot"}, run_finished}) {
    const nlohmann::json j = nlohmann::json::parse(eventToJson(event).dump());
    const RunEvent back = eventFromJson(j);
    EXPECT_EQ(back.index(), event.index());
    EXPECT_EQ(eventToJson(back), j) << j.dump();
  }
  EXPECT_EQ(eventToJson(point_started)["label"], point_started.point.label());
  EXPECT_EQ(std::get<RunStartedEvent>(eventFromJson(eventToJson(started))).provenance.value("gpu.driver"), "580.95.05");
  EXPECT_EQ(eventName(run_finished), "run_finished");
}

TEST(Events, MalformedObjectsNameTheProblem) {
  const auto message = [](const nlohmann::json& j) {
    try {
      eventFromJson(j);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message(nlohmann::json::array()), "an event must be a JSON object");
  EXPECT_EQ(message({{"event", "teleport"}}), "unknown event 'teleport'");
  EXPECT_EQ(message({{"event", "point_finished"}, {"run_id", 1}}), "point_finished event without 'result'");
  EXPECT_EQ(message({{"event", "run_started"}, {"run_id", "one"}, {"total_points", 1}}),
            "run_started event: 'run_id' has the wrong type");
  EXPECT_NE(message({{"event", "point_finished"}, {"run_id", 1}, {"done", 1}, {"total", 1}, {"result", {{"batch", "x"}}}})
                .find("'batch' must be integer"),
            std::string::npos);
}

}  // namespace
}  // namespace attnbench
