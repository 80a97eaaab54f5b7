// The seam between the runner and a device. The CPU and CUDA backends implement it; the runner never
// knows which one it drives.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attnbench/device_info.h"
#include "attnbench/provenance.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

// Timing options that only some devices honour.
struct TimingOptions {
  bool l2_flush = false;
  bool cuda_graph = false;
  int cpu_threads = 0;  // 0 = all hardware threads
  TimingMethod method = TimingMethod::Blocked;
};

// The device's SM clock now and its maximum, in MHz.
struct SmClockReading {
  int current_mhz = 0;
  int max_mhz = 0;
};

enum class TensorId { Q, K, V, O };

class PreparedPoint;
// A problem of its own within a prepared point: a tensor parallel rank with its share of the heads.
struct PreparedPart {
  PreparedPoint* point;
  kernels::AttentionShape shape;
};

// A point with its inputs allocated and filled, ready to be run many times.
class PreparedPoint {
 public:
  virtual ~PreparedPoint() = default;
  // Runs the kernel(s) once and returns the time they took on the device, in milliseconds.
  virtual double runTimed() = 0;
  // The tile that runs (auto resolved); {0,0} for the standard kernel.
  virtual TileShape resolvedTile() const = 0;
  // Peak bytes held by the point's allocations since prepare (inputs, outputs, workspace).
  virtual std::uint64_t peakBytes() const = 0;
  // Output elements that still hold the poison written before the first run.
  virtual std::int64_t countUnwrittenOutputs() = 0;
  // Rows [row0, row0+count) of head `head` of batch `b` of a tensor, converted to fp32 ([count, D]).
  // For a decode point, K and V rows are positions in sequence b's cache (through its pages, if paged).
  virtual std::vector<float> readRows(TensorId tensor, int b, int head, int row0, int count) = 0;
  // Valid keys of sequence `b`: seq_kv for attention; a decode point's cache length, which may vary
  // across a ragged batch.
  virtual int kvLength(int b) const = 0;
  // Key ranges per sequence flash decode runs with; 0 for every other point.
  virtual int splits() const { return 0; }
  // A point split over tensor parallel ranks: each rank's time in the last runTimed (which returned
  // their max), by rank; empty for a point on one device.
  virtual std::vector<double> rankMs() const { return {}; }
  // The problems the point runs as, each with its own inputs, to be checked one by one; empty when
  // the point is one problem.
  virtual std::vector<PreparedPart> parts() { return {}; }
};

// When a backend is asked for its part of a run's provenance.
enum class RunMoment { Start, End };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const DeviceInfo& device() const = 0;
  // Empty when the backend can run the problem, else a one-line reason (stored with the skip).
  virtual std::string unsupportedReason(const SweepPoint& point) const = 0;
  // Device bytes the point will hold at its peak: inputs, outputs, LSE, workspace.
  virtual std::uint64_t predictBytes(const SweepPoint& point) const = 0;
  // Bytes a point may use on this device now (free memory, minus a safety margin).
  virtual std::uint64_t memoryBudgetBytes() const = 0;
  // Applies to the points prepared afterwards (and to predictBytes: CPU workspace grows with threads).
  virtual void setTimingOptions(const TimingOptions& timing) = 0;
  // Allocates, fills Q/K/V with random values from `seed`, poisons O. Throws OutOfMemory when the
  // device refuses an allocation or the point's allocations would pass `limit_bytes` (a --max-memory
  // above the free memory lets the device itself answer).
  virtual std::unique_ptr<PreparedPoint> prepare(const SweepPoint& point, std::uint64_t seed,
                                                 std::uint64_t limit_bytes) = 0;
  // The SM clock, where the device reports it (NVML on NVIDIA GPUs); never changes any setting.
  virtual std::optional<SmClockReading> readSmClock() const { return std::nullopt; }
  // Measures copy bandwidth and GEMM throughput (a second or two).
  virtual DeviceCeilings measureCeilings() = 0;
  // The device's part of a run's provenance (provenance.h): at Start what it is and runs with (for a GPU:
  // name, SMs, clocks, power limit, driver and library versions; for the CPU: model, threads, Eigen), at
  // End what may have changed since (the SM clock). Reads only; never changes a clock or a setting.
  virtual Provenance provenance(RunMoment moment) const = 0;
};

// All devices this build can see: the host CPU always, CUDA GPUs when built with CUDA and present.
std::vector<DeviceInfo> listDevices();

// "auto" (first GPU, else CPU), "cpu", "cuda" (= cuda:0), "cuda:N". `note` receives a line such as
// "no CUDA device: using the CPU backend". InputError for an unknown or absent device.
std::unique_ptr<Backend> makeBackend(const std::string& device, std::string* note);

// The backend a run of `spec` measures on: makeBackend(spec.device), or, for an attention or decode
// spec with tensor_parallel T > 1, a group of T ranks that splits each point's heads over devices
// device, device + 1, ... (CPU ranks share the host's cores).
std::unique_ptr<Backend> makeRunBackend(const SweepSpec& spec, std::string* note);

// Whether `device` (as in a spec) would resolve to a CUDA GPU.
bool resolvesToCuda(const std::string& device);

}  // namespace attnbench
