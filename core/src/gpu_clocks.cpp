#include "gpu_clocks.h"

#include <dlfcn.h>


namespace attnbench {
namespace {

// The few NVML entry points used, declared here from NVML's documented C API (its header is not part
// of the CUDA toolkit): every function returns 0 (NVML_SUCCESS) on success.
using NvmlDevice = struct NvmlDeviceOpaque*;
constexpr int kNvmlClockSm = 1;   // NVML_CLOCK_SM
constexpr int kNvmlClockMem = 2;  // NVML_CLOCK_MEM
constexpr int kNvmlTemperatureGpu = 0;

struct NvmlApi {
  void* library = nullptr;
  std::string error;
  int (*init)() = nullptr;
  int (*handleByPciBusId)(const char*, NvmlDevice*) = nullptr;
  int (*clockInfo)(NvmlDevice, int, unsigned*) = nullptr;
  int (*maxClockInfo)(NvmlDevice, int, unsigned*) = nullptr;
  int (*powerLimit)(NvmlDevice, unsigned*) = nullptr;
  int (*temperature)(NvmlDevice, int, unsigned*) = nullptr;
  int (*throttleReasons)(NvmlDevice, unsigned long long*) = nullptr;
  int (*driverVersion)(char*, unsigned) = nullptr;

  template <typename F>
  void load(F& fn, const char* name) {
    fn = reinterpret_cast<F>(dlsym(library, name));
  }

  NvmlApi() {
    library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      error = "NVML not available (libnvidia-ml.so.1 not found): clocks are not recorded";
      return;
    }
    load(init, "nvmlInit_v2");
    load(handleByPciBusId, "nvmlDeviceGetHandleByPciBusId_v2");
    load(clockInfo, "nvmlDeviceGetClockInfo");
    load(maxClockInfo, "nvmlDeviceGetMaxClockInfo");
    load(powerLimit, "nvmlDeviceGetEnforcedPowerLimit");
    load(temperature, "nvmlDeviceGetTemperature");
    load(throttleReasons, "nvmlDeviceGetCurrentClocksEventReasons");
    if (throttleReasons == nullptr) load(throttleReasons, "nvmlDeviceGetCurrentClocksThrottleReasons");
    load(driverVersion, "nvmlSystemGetDriverVersion");
    if (init == nullptr || handleByPciBusId == nullptr || clockInfo == nullptr || init() != 0) {
      error = "NVML did not initialize: clocks are not recorded";
      init = nullptr;
    }
  }
  bool ready() const { return init != nullptr; }
};

const NvmlApi& nvml() {
  static const NvmlApi api;
  return api;
}

}  // namespace

std::optional<GpuClockReading> readGpuClocks(const std::string& pci_bus_id, std::string* why) {
  const NvmlApi& api = nvml();
  if (!api.ready()) {
    if (why) *why = api.error;
    return std::nullopt;
  }
  NvmlDevice device = nullptr;
  if (api.handleByPciBusId(pci_bus_id.c_str(), &device) != 0) {
    if (why) *why = "NVML does not know the GPU at " + pci_bus_id;
    return std::nullopt;
  }
  GpuClockReading r;
  api.clockInfo(device, kNvmlClockSm, &r.sm_mhz);
  api.clockInfo(device, kNvmlClockMem, &r.memory_mhz);
  if (api.maxClockInfo) api.maxClockInfo(device, kNvmlClockSm, &r.max_sm_mhz);
  unsigned milliwatts = 0;
  if (api.powerLimit && api.powerLimit(device, &milliwatts) == 0) r.power_limit_watts = milliwatts / 1000.0;
  if (api.temperature) api.temperature(device, kNvmlTemperatureGpu, &r.temperature_c);
  unsigned long long reasons = 0;
  if (api.throttleReasons && api.throttleReasons(device, &reasons) == 0) r.throttle_reasons = reasons;
  return r;
}

std::string nvmlDriverVersion() {
  const NvmlApi& api = nvml();
  if (!api.ready() || api.driverVersion == nullptr) return {};
  char buffer[96] = {};
  return api.driverVersion(buffer, sizeof buffer) == 0 ? std::string(buffer) : std::string();
}

}  // namespace attnbench
