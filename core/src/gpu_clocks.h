// Clocks, power limit and throttle reasons of an NVIDIA GPU, read through NVML when the driver's
// library is present (loaded at run time, so nothing is needed at build time). attnbench only reads:
// it never changes clocks or limits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace attnbench {

struct GpuClockReading {
  unsigned sm_mhz = 0;              // current SM clock
  unsigned max_sm_mhz = 0;          // the SM clock's maximum
  unsigned memory_mhz = 0;          // current memory clock
  double power_limit_watts = 0;     // enforced power limit
  unsigned temperature_c = 0;       // GPU core temperature
  std::uint64_t throttle_reasons = 0;  // NVML's clocks-event reason bits (0 = none)

  // Below ~75 % of its maximum, a sample's clock is flagged: the GPU was throttled or idling down.
  bool throttled() const { return max_sm_mhz > 0 && sm_mhz * 4 < max_sm_mhz * 3; }
};

// Reads the GPU at `pci_bus_id` (as cudaDeviceGetPCIBusId writes it); nullopt without NVML or when the
// device is not found. `why` receives the reason once.
std::optional<GpuClockReading> readGpuClocks(const std::string& pci_bus_id, std::string* why = nullptr);

// The driver's version as NVML reports it ("580.159.04"), empty without NVML.
std::string nvmlDriverVersion();

}  // namespace attnbench
