// What a run was measured with: the build (attnbench version and commit, compilers), the host (name,
// OS, CPU), the device and its software (GPU, clocks, power limit, driver, CUDA, cuBLAS, cuDNN; or the
// CPU's threads, Eigen and SIMD), and the timing settings. Collected once when a run starts, completed
// when it finishes (the SM clock at the end), stored with the run and written into every export, so
// that a number can be traced to how it was taken.
//
// Keys are dotted and grouped by their first part: attnbench.*, build.*, host.*, gpu.*, cuda.*,
// cublas.*, cudnn.*, cpu.*, eigen.*, timing.*, resumed.*. Values are text as the source reports them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/sweep_spec.h"

namespace attnbench {

class Backend;

struct ProvenanceEntry {
  std::string key;    // "gpu.sm_clock_start_mhz"
  std::string value;  // "1980"
  bool operator==(const ProvenanceEntry&) const = default;
};

// An ordered list of entries with unique keys, in the order they were collected.
class Provenance {
 public:
  Provenance() = default;
  Provenance(std::initializer_list<ProvenanceEntry> entries);

  // Replaces the value of `key` where it is, or appends it.
  void set(const std::string& key, std::string value);
  // set() of every entry of `more`, in its order.
  void merge(const Provenance& more);
  // The value of `key`; "" when absent.
  std::string value(std::string_view key) const;
  bool contains(std::string_view key) const;

  const std::vector<ProvenanceEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  bool operator==(const Provenance&) const = default;

 private:
  std::vector<ProvenanceEntry> entries_;
};

// A JSON object of strings (the JSON export, the event stream). Its keys come out sorted.
nlohmann::json provenanceToJson(const Provenance& provenance);
// The same object as text with the keys in the provenance's order (the store's column).
std::string serializeProvenance(const Provenance& provenance);
// Reads either form back. Lenient, for what old or foreign files hold: empty text, malformed JSON or
// anything but an object gives an empty provenance; a value that is not a string is kept as its JSON.
Provenance parseProvenance(std::string_view json_text);

// The build: attnbench.version, attnbench.commit (`git describe --always --dirty` of the source tree
// at build time, "unknown" outside a git checkout), build.type, build.compiler and, in CUDA builds,
// build.cuda_compiler (nvcc) and build.cuda_headers (the CUDA runtime headers compiled against).
Provenance buildProvenance();
// The host: host.name, host.os (uname), host.distribution (/etc/os-release), host.cpu (/proc/cpuinfo).
Provenance hostProvenance();
// The timing settings of `spec`: timing.method, timing.cuda_graph, timing.l2_flush, timing.warmup,
// timing.repetitions and, when the count is not fixed, the stopping rule (timing.max_noise_percent,
// timing.min_samples, timing.min_time_s, timing.timeout_s).
Provenance timingProvenance(const SweepSpec& spec);

// Everything a run records when it starts: build, host, the backend's part at RunMoment::Start
// (backend.h), then the timing settings (on the CPU, timing.method says "steady clock per call"). Call
// after the backend's timing options are set.
Provenance collectProvenance(const SweepSpec& spec, const Backend& backend);

// What a resume changes: for every key of `now` whose value differs from `recorded`, an entry
// "resumed.<key>" with the new value (a resume on another host, build or driver shows here).
Provenance resumeChanges(const Provenance& recorded, const Provenance& now);

}  // namespace attnbench
