// The few NVML queries a run's provenance needs (SM clock, power limit, driver version), with NVML
// loaded at run time: a machine without libnvidia-ml.so.1 (no driver, a CPU-only host) builds and runs
// the same binary and gets empty answers. Only reads: nothing here changes a clock or a setting.
#pragma once

#include <optional>
#include <string>

namespace attnbench::nvml {

struct SmClock {
  unsigned current_mhz = 0;
  unsigned max_mhz = 0;
};

// Devices are named by their PCI bus id as cudaDeviceGetPCIBusId writes it ("0000:19:00.0").
// Empty when libnvidia-ml.so.1 is absent, NVML fails, or no device has this PCI bus id. Never throws.
std::optional<SmClock> readSmClock(const std::string& pci_bus_id);
std::optional<double> powerLimitWatts(const std::string& pci_bus_id);  // the enforced power limit
std::string driverVersion();                                            // "" when unavailable

// Why the NVML entry points cannot be taken from `library` (not found, a symbol missing, nvmlInit
// failed); "" when all of them load and NVML initialises. The queries above use "libnvidia-ml.so.1"
// through the same loader; tests point it at other files.
std::string loadFailure(const char* library);

}  // namespace attnbench::nvml
