#include "attnbench/provenance.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "attnbench/backend.h"
#include "attnbench/device_info.h"
#include "build_info.h"

#ifndef ATTNBENCH_VERSION
#define ATTNBENCH_VERSION "dev"
#endif
#ifndef ATTNBENCH_BUILD_TYPE
#define ATTNBENCH_BUILD_TYPE "unknown"
#endif

namespace attnbench {
namespace {

std::string orUnknown(std::string s) { return s.empty() ? "unknown" : s; }

std::string compilerName() {
#if defined(__clang__)
  return "Clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "unknown";
#endif
}

// PRETTY_NAME of /etc/os-release ("Debian GNU/Linux 12 (bookworm)"), without its quotes.
std::string distribution() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return "";
}

}  // namespace

Provenance::Provenance(std::initializer_list<ProvenanceEntry> entries) {
  for (const auto& e : entries) set(e.key, e.value);
}

void Provenance::set(const std::string& key, std::string value) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const ProvenanceEntry& e) { return e.key == key; });
  if (it != entries_.end()) it->value = std::move(value);
  else entries_.push_back({key, std::move(value)});
}

void Provenance::merge(const Provenance& more) {
  for (const auto& e : more.entries()) set(e.key, e.value);
}

std::string Provenance::value(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return e.value;
  }
  return "";
}

bool Provenance::contains(std::string_view key) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const ProvenanceEntry& e) { return e.key == key; });
}

nlohmann::json provenanceToJson(const Provenance& provenance) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& e : provenance.entries()) j[e.key] = e.value;
  return j;
}

std::string serializeProvenance(const Provenance& provenance) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& e : provenance.entries()) j[e.key] = e.value;
  return j.dump();
}

Provenance parseProvenance(std::string_view json_text) {
  Provenance p;
  const auto j = nlohmann::ordered_json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return p;
  for (const auto& [key, value] : j.items()) p.set(key, value.is_string() ? value.get<std::string>() : value.dump());
  return p;
}

Provenance buildProvenance() {
  Provenance p{{"attnbench.version", ATTNBENCH_VERSION},
               {"attnbench.commit", gitDescribe()},
               {"build.type", ATTNBENCH_BUILD_TYPE},
               {"build.compiler", compilerName()}};
#ifdef ATTNBENCH_HAVE_CUDA
  p.set("build.cuda_compiler", "nvcc " + nvccVersion());
  p.set("build.cuda_headers", cudaHeadersVersion());
#endif
  return p;
}

Provenance hostProvenance() {
  Provenance p{{"host.name", hostName()}};
  struct utsname u {};
  p.set("host.os", ::uname(&u) == 0 ? std::string(u.sysname) + " " + u.release + " " + u.machine : "unknown");
  if (std::string d = distribution(); !d.empty()) p.set("host.distribution", d);
  p.set("host.cpu", orUnknown(hostCpuModel()));
  return p;
}

Provenance timingProvenance(const SweepSpec& spec) {
  auto yesNo = [](bool b) { return std::string(b ? "yes" : "no"); };
  auto number = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  // Every spec setting that changes how a sample is taken belongs in this list.
  Provenance p{{"timing.method", timingMethodName(spec.timing)},
               {"timing.cuda_graph", yesNo(spec.cuda_graph)},
               {"timing.l2_flush", yesNo(spec.l2_flush)},
               {"timing.warmup", std::to_string(spec.warmup)},
               {"timing.repetitions", spec.repetitions > 0 ? std::to_string(spec.repetitions) : "until the noise rule"}};
  if (spec.repetitions == 0) {  // the stopping rule applies only when the count is not fixed
    p.set("timing.max_noise_percent", number(spec.sampling.max_noise_percent));
    p.set("timing.min_samples", std::to_string(spec.sampling.min_samples));
    p.set("timing.min_time_s", number(spec.sampling.min_time_s));
    p.set("timing.timeout_s", number(spec.sampling.timeout_s));
  }
  return p;
}

Provenance collectProvenance(const SweepSpec& spec, const Backend& backend) {
  Provenance p = buildProvenance();
  p.merge(hostProvenance());
  p.merge(backend.provenance(RunMoment::Start));
  p.merge(timingProvenance(spec));
  // The method is the GPU's: the CPU times every call with a steady clock, whatever the spec says.
  if (backend.device().kind == "cpu") p.set("timing.method", "steady clock per call");
  return p;
}

Provenance resumeChanges(const Provenance& recorded, const Provenance& now) {
  Provenance changes;
  for (const auto& e : now.entries()) {
    if (!recorded.contains(e.key) || recorded.value(e.key) != e.value) changes.set("resumed." + e.key, e.value);
  }
  return changes;
}

}  // namespace attnbench
