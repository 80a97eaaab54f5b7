// Shared by the widget tests: one QApplication (offscreen), the recorded event stream, a store
// filled through core's API.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <QString>

#include <nlohmann/json.hpp>

#include "attnbench/store.h"

namespace attnbench::ui::test {

// Created on first use (never during test discovery), on the offscreen platform.
void ensureApp();

QString dataPath(const QString& name);
QString fixturePath();  // tests/ui/data/cpu_small.jsonl
std::vector<nlohmann::json> fixtureEvents();
// The run_started event's record and the points of every point_finished event of the fixture.
RunRecord fixtureRun();
std::vector<PointResult> fixturePoints();

// Records the fixture's run in `store` and returns its id.
std::int64_t storeFixtureRun(Store& store);

// Processes events until `done()` or `timeout_ms` passes; false on timeout.
bool waitFor(const std::function<bool()>& done, int timeout_ms);

}  // namespace attnbench::ui::test
