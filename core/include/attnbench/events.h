// The event stream of a run, typed: the runner emits these, `--events jsonl` writes them one JSON object
// per line (docs/EVENTS.md), and the desktop application reads a worker's lines back through the one
// decoder here. Consumers dispatch on the type (std::visit), never on the "event" string.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "attnbench/device_info.h"
#include "attnbench/provenance.h"
#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench {

struct RunStartedEvent {
  std::int64_t run_id = 0;
  std::string db;              // the database the run is recorded in
  std::string name;
  int total_points = 0;
  int done_points = 0;         // already recorded (a resumed run)
  bool resumed = false;
  DeviceInfo device;           // with the measured ceilings
  nlohmann::json spec;         // the sweep spec as stored with the run
  Provenance provenance;       // what the run is measured with, as stored (provenance.h)
};

struct PointStartedEvent {
  std::int64_t run_id = 0;
  SweepPoint point;            // its JSON carries the point's fields and its label()
};

struct PointFinishedEvent {
  std::int64_t run_id = 0;
  int done = 0;                // points recorded so far, this one included
  int total = 0;
  PointResult result;
};

struct NoteEvent {
  std::string level = "info";  // "info" or "warning"
  std::string message;
};

struct RunFinishedEvent {
  std::int64_t run_id = 0;
  RunStatus status = RunStatus::Completed;
  std::map<std::string, int> counts;  // points per status name
  double wall_seconds = 0;
  double kernel_seconds = 0;
};

using RunEvent = std::variant<RunStartedEvent, PointStartedEvent, PointFinishedEvent, NoteEvent, RunFinishedEvent>;

// The event's JSON object, with its kind in the "event" field.
nlohmann::json eventToJson(const RunEvent& event);

// Decodes one object of the stream. InputError naming what is wrong for an unknown kind, a missing
// field or a value of the wrong type.
RunEvent eventFromJson(const nlohmann::json& j);

// The "event" name of each kind ("run_started", ...).
std::string eventName(const RunEvent& event);

}  // namespace attnbench
