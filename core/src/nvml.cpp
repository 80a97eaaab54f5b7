#include "nvml.h"

#include <dlfcn.h>

#include <memory>
#include <mutex>

namespace attnbench::nvml {
namespace {

// NVML's own declarations (nvml.h of the CUDA toolkit's NVML API), limited to what is used here, so
// that no NVML header or library is needed to build.
using Return = int;  // nvmlReturn_t; NVML_SUCCESS is 0
constexpr Return kSuccess = 0;
struct GpuRecord;
using GpuHandle = GpuRecord*;  // NVML's handle type, opaque
constexpr int kClockSm = 1;    // NVML_CLOCK_SM of nvmlClockType_t
constexpr unsigned kDriverVersionBufferSize = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

using InitFn = Return (*)();
using ShutdownFn = Return (*)();
using HandleByPciBusIdFn = Return (*)(const char* pci_bus_id, GpuHandle* gpu);
using ClockInfoFn = Return (*)(GpuHandle gpu, int clock_type, unsigned* mhz);
using PowerLimitFn = Return (*)(GpuHandle gpu, unsigned* milliwatts);
using DriverVersionFn = Return (*)(char* version, unsigned length);

// An opened and initialised NVML; only Library::open makes one.
class Library {
 public:
  // Null, with `why` set, when the file does not load, lacks one of the entry points, or nvmlInit fails.
  static std::unique_ptr<Library> open(const char* file, std::string* why) {
    void* handle = ::dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = ::dlerror();
      *why = error != nullptr ? error : std::string(file) + " not found";
      return nullptr;
    }
    std::unique_ptr<Library> lib(new Library(handle));
    const bool complete = lib->bind(lib->init_, "nvmlInit_v2", why) && lib->bind(lib->shutdown_, "nvmlShutdown", why) &&
                          lib->bind(lib->handle_by_bus_, "nvmlDeviceGetHandleByPciBusId_v2", why) &&
                          lib->bind(lib->clock_, "nvmlDeviceGetClockInfo", why) &&
                          lib->bind(lib->max_clock_, "nvmlDeviceGetMaxClockInfo", why) &&
                          lib->bind(lib->power_limit_, "nvmlDeviceGetEnforcedPowerLimit", why) &&
                          lib->bind(lib->driver_version_, "nvmlSystemGetDriverVersion", why);
    if (!complete) return nullptr;
    if (const Return rc = lib->init_(); rc != kSuccess) {
      *why = "nvmlInit_v2 failed (NVML error " + std::to_string(rc) + ")";
      return nullptr;
    }
    lib->initialised_ = true;
    return lib;
  }

  ~Library() {
    if (initialised_) shutdown_();
    ::dlclose(handle_);
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  std::optional<GpuHandle> gpuByBusId(const std::string& pci_bus_id) const {
    GpuHandle d = nullptr;
    if (handle_by_bus_(pci_bus_id.c_str(), &d) != kSuccess || d == nullptr) return std::nullopt;
    return d;
  }

  std::optional<SmClock> smClock(const std::string& pci_bus_id) const {
    const auto d = gpuByBusId(pci_bus_id);
    if (!d) return std::nullopt;
    SmClock c;
    if (clock_(*d, kClockSm, &c.current_mhz) != kSuccess || max_clock_(*d, kClockSm, &c.max_mhz) != kSuccess) {
      return std::nullopt;
    }
    return c;
  }

  std::optional<double> powerLimitWatts(const std::string& pci_bus_id) const {
    const auto d = gpuByBusId(pci_bus_id);
    unsigned milliwatts = 0;
    if (!d || power_limit_(*d, &milliwatts) != kSuccess) return std::nullopt;
    return milliwatts / 1000.0;
  }

  std::string driverVersion() const {
    char version[kDriverVersionBufferSize] = {};
    if (driver_version_(version, kDriverVersionBufferSize) != kSuccess) return "";
    version[kDriverVersionBufferSize - 1] = '\0';
    return version;
  }

 private:
  explicit Library(void* handle) : handle_(handle) {}

  template <typename Fn>
  bool bind(Fn& fn, const char* name, std::string* why) {
    fn = reinterpret_cast<Fn>(::dlsym(handle_, name));
    if (fn == nullptr) *why = std::string("missing symbol ") + name;
    return fn != nullptr;
  }

  void* handle_;
  bool initialised_ = false;
  InitFn init_ = nullptr;
  ShutdownFn shutdown_ = nullptr;
  HandleByPciBusIdFn handle_by_bus_ = nullptr;
  ClockInfoFn clock_ = nullptr;
  ClockInfoFn max_clock_ = nullptr;
  PowerLimitFn power_limit_ = nullptr;
  DriverVersionFn driver_version_ = nullptr;
};

// The process's NVML, opened on first use and never shut down: NVML calls are thread-safe, and a
// shutdown at exit would race other threads still reading.
const Library* systemNvml() {
  static std::once_flag once;
  static const Library* lib = nullptr;
  std::call_once(once, [] {
    std::string ignored;
    lib = Library::open("libnvidia-ml.so.1", &ignored).release();
  });
  return lib;
}

}  // namespace

std::optional<SmClock> readSmClock(const std::string& pci_bus_id) {
  const Library* lib = systemNvml();
  return lib != nullptr ? lib->smClock(pci_bus_id) : std::nullopt;
}

std::optional<double> powerLimitWatts(const std::string& pci_bus_id) {
  const Library* lib = systemNvml();
  return lib != nullptr ? lib->powerLimitWatts(pci_bus_id) : std::nullopt;
}

std::string driverVersion() {
  const Library* lib = systemNvml();
  return lib != nullptr ? lib->driverVersion() : "";
}

std::string loadFailure(const char* library) {
  std::string why;
  return Library::open(library, &why) != nullptr ? "" : why;
}

}  // namespace attnbench::nvml
