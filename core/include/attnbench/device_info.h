// What a device is: identity, properties (for the device panel and the DB) and the measured
// ceilings (copy bandwidth and GEMM throughput) that the charts draw as lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace attnbench {

struct DeviceCeilings {
  double copy_gbps = 0;     // device-to-device (or memcpy) bandwidth, bytes read + written, GB/s
  double gemm_tflops = 0;   // large square GEMM in the sweep's main dtype (fp16 on GPUs, fp32 on CPUs)
  std::string gemm_dtype;   // dtype the GEMM ceiling was measured in
};

struct DeviceInfo {
  std::string id;           // "cpu" or "cuda:0"
  std::string kind;         // "cpu" or "cuda"
  std::string name;         // "AMD EPYC", "NVIDIA H100 80GB HBM3"
  std::string fingerprint;  // stable key for caching ceilings (name + memory + clocks + driver)
  std::uint64_t memory_bytes = 0;
  nlohmann::json properties = nlohmann::json::object();  // everything else the device reports
  std::optional<DeviceCeilings> ceilings;
};

nlohmann::json deviceInfoToJson(const DeviceInfo& d);
DeviceInfo deviceInfoFromJson(const nlohmann::json& j);

// The host CPU: model, cores, threads, cache sizes (from sysfs), memory (from /proc/meminfo).
DeviceInfo describeHostCpu();

// The CPU's model name from /proc/cpuinfo ("AMD EPYC 9654 96-Core Processor"); "" when not found.
std::string hostCpuModel();

// Bytes the OS reports available now (MemAvailable), 0 when unknown.
std::uint64_t hostAvailableMemoryBytes();

// The host name for run records.
std::string hostName();

}  // namespace attnbench
