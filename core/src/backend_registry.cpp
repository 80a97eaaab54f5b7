#include <algorithm>
#include <cctype>

#include "attnbench/backend.h"
#include "attnbench/errors.h"
#include "backends.h"

namespace attnbench {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// -1 for "cpu", the ordinal for "cuda"/"cuda:N", -2 for "auto".
int ordinalOfDevice(const std::string& device) {
  const std::string d = lower(device);
  if (d == "auto") return -2;
  if (d == "cpu") return -1;
  if (d == "cuda") return 0;
  if (d.rfind("cuda:", 0) == 0 && d.size() > 5 &&
      std::all_of(d.begin() + 5, d.end(), [](unsigned char c) { return std::isdigit(c); }) && d.size() < 9) {
    return std::stoi(d.substr(5));
  }
  throw InputError("unknown device '" + device + "' (auto, cpu, cuda, cuda:N)");
}

int visibleCudaDevices(std::string* why) {
#ifdef ATTNBENCH_HAVE_CUDA
  return cudaDeviceCount(why);
#else
  if (why) *why = "this build has no CUDA backend";
  return 0;
#endif
}

}  // namespace

std::vector<DeviceInfo> listDevices() {
  std::vector<DeviceInfo> out;
#ifdef ATTNBENCH_HAVE_CUDA
  out = listCudaDevices();
#endif
  out.push_back(describeHostCpu());
  return out;
}

std::unique_ptr<Backend> makeRunBackend(const SweepSpec& spec, std::string* note) {
  const int ranks = spec.tensor_parallel;
  if (ranks == 1 || spec.workload == Workload::Inference) return makeBackend(spec.device, note);
  const int ordinal = ordinalOfDevice(spec.device);
  // As makeBackend: "auto" falls back to the CPU, a named GPU that is absent is an error (from makeBackend).
  const bool gpu = ordinal >= 0 || (ordinal == -2 && resolvesToCuda(spec.device));
  if (ordinal == -2 && !gpu && note) *note = "no CUDA device: tensor parallel ranks on the CPU";
  std::vector<std::string> devices;
  for (int r = 0; r < ranks; ++r) devices.push_back(gpu ? "cuda:" + std::to_string(std::max(ordinal, 0) + r) : "cpu");
  return makeTensorParallelBackend(devices);
}

bool resolvesToCuda(const std::string& device) {
  const int ordinal = ordinalOfDevice(device);
  if (ordinal == -1) return false;
  return visibleCudaDevices(nullptr) > 0;
}

std::unique_ptr<Backend> makeBackend(const std::string& device, std::string* note) {
  const int ordinal = ordinalOfDevice(device);
  if (ordinal == -1) return makeCpuBackend();
  std::string why;
  const int count = visibleCudaDevices(&why);
  if (ordinal == -2) {
#ifdef ATTNBENCH_HAVE_CUDA
    if (count > 0) return makeCudaBackend(0);
#endif
    if (note) *note = "no CUDA device (" + why + "): using the CPU backend";
    return makeCpuBackend();
  }
  if (ordinal >= count) {
    throw InputError("device '" + device + "' is not available (" +
                     (count == 0 ? why : std::to_string(count) + " CUDA device(s) visible") + ")");
  }
#ifdef ATTNBENCH_HAVE_CUDA
  return makeCudaBackend(ordinal);
#else
  return makeCpuBackend();  // unreachable: count is 0 without CUDA
#endif
}

}  // namespace attnbench
