#include "attnbench/events.h"

#include "attnbench/errors.h"
#include "attnbench/result_fields.h"

namespace attnbench {
namespace {

template <typename T>
T required(const nlohmann::json& j, const char* key, const char* event) {
  const auto it = j.find(key);
  if (it == j.end()) throw InputError(std::string(event) + " event without '" + key + "'");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(std::string(event) + " event: '" + key + "' has the wrong type");
  }
}

template <typename T>
T optional(const nlohmann::json& j, const char* key, T fallback, const char* event) {
  return j.contains(key) ? required<T>(j, key, event) : fallback;
}

// The point-describing result fields of `point` (the `point` object of point_started).
nlohmann::json pointJson(const SweepPoint& point) {
  PointResult carrier;
  carrier.point = point;
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : resultFields()) {
    if (f.describes_point) j[std::string(f.name)] = fieldToJson(f.get(carrier));
  }
  return j;
}

struct ToJson {
  nlohmann::json operator()(const RunStartedEvent& e) const {
    return {{"event", "run_started"}, {"run_id", e.run_id},       {"db", e.db},
            {"name", e.name},         {"total_points", e.total_points}, {"done_points", e.done_points},
            {"resumed", e.resumed},   {"device", deviceInfoToJson(e.device)}, {"spec", e.spec},
            {"provenance", provenanceToJson(e.provenance)}};
  }
  nlohmann::json operator()(const PointStartedEvent& e) const {
    return {{"event", "point_started"}, {"run_id", e.run_id}, {"index", e.point.index}, {"label", e.point.label()},
            {"point", pointJson(e.point)}};
  }
  nlohmann::json operator()(const PointFinishedEvent& e) const {
    return {{"event", "point_finished"}, {"run_id", e.run_id}, {"index", e.result.point.index},
            {"done", e.done},            {"total", e.total},   {"result", pointResultToJson(e.result)}};
  }
  nlohmann::json operator()(const NoteEvent& e) const {
    return {{"event", "note"}, {"level", e.level}, {"message", e.message}};
  }
  nlohmann::json operator()(const RunFinishedEvent& e) const {
    return {{"event", "run_finished"}, {"run_id", e.run_id},           {"status", runStatusName(e.status)},
            {"counts", e.counts},      {"wall_seconds", e.wall_seconds}, {"kernel_seconds", e.kernel_seconds}};
  }
};

}  // namespace

nlohmann::json eventToJson(const RunEvent& event) { return std::visit(ToJson{}, event); }

std::string eventName(const RunEvent& event) { return eventToJson(event).at("event").get<std::string>(); }

RunEvent eventFromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw InputError("an event must be a JSON object");
  const std::string kind = required<std::string>(j, "event", "an");
  const char* k = kind.c_str();
  if (kind == "run_started") {
    RunStartedEvent e;
    e.run_id = required<std::int64_t>(j, "run_id", k);
    e.db = optional<std::string>(j, "db", "", k);
    e.name = optional<std::string>(j, "name", "", k);
    e.total_points = required<int>(j, "total_points", k);
    e.done_points = optional<int>(j, "done_points", 0, k);
    e.resumed = optional<bool>(j, "resumed", false, k);
    if (j.contains("device")) e.device = deviceInfoFromJson(j.at("device"));
    e.spec = j.value("spec", nlohmann::json::object());
    if (j.contains("provenance")) e.provenance = parseProvenance(j.at("provenance").dump());
    return e;
  }
  if (kind == "point_started") {
    PointStartedEvent e;
    e.run_id = required<std::int64_t>(j, "run_id", k);
    PointResult carrier;
    const nlohmann::json point = j.value("point", nlohmann::json::object());
    for (const auto& f : resultFields()) {
      if (!f.describes_point) continue;
      if (const auto it = point.find(std::string(f.name)); it != point.end()) f.set(carrier, fieldFromJson(f.type, *it, f.name));
    }
    carrier.point.index = required<int>(j, "index", k);
    e.point = carrier.point;
    return e;
  }
  if (kind == "point_finished") {
    PointFinishedEvent e;
    e.run_id = required<std::int64_t>(j, "run_id", k);
    e.result = pointResultFromJson(required<nlohmann::json>(j, "result", k));
    e.done = required<int>(j, "done", k);
    e.total = required<int>(j, "total", k);
    return e;
  }
  if (kind == "note") {
    NoteEvent e;
    e.level = optional<std::string>(j, "level", "info", k);
    e.message = required<std::string>(j, "message", k);
    return e;
  }
  if (kind == "run_finished") {
    RunFinishedEvent e;
    e.run_id = required<std::int64_t>(j, "run_id", k);
    e.status = parseRunStatus(required<std::string>(j, "status", k));
    e.counts = optional<std::map<std::string, int>>(j, "counts", {}, k);
    e.wall_seconds = optional<double>(j, "wall_seconds", 0.0, k);
    e.kernel_seconds = optional<double>(j, "kernel_seconds", 0.0, k);
    return e;
  }
  throw InputError("unknown event '" + kind + "'");
}

}  // namespace attnbench
