#include "attnbench/device_info.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace attnbench {
namespace {

std::string readFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "48K", "2048K", "32M" as written in /sys/devices/system/cpu/cpu0/cache/index*/size.
std::uint64_t parseCacheSize(const std::string& s) {
  if (s.empty()) return 0;
  std::uint64_t v = std::strtoull(s.c_str(), nullptr, 10);
  const char unit = s.back();
  if (unit == 'K') v *= 1024;
  else if (unit == 'M') v *= 1024 * 1024;
  else if (unit == 'G') v *= 1024ULL * 1024 * 1024;
  return v;
}

std::uint64_t meminfoBytes(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string name;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> name >> kib >> unit) {
    if (name == key + ":") return kib * 1024;
  }
  return 0;
}

}  // namespace

nlohmann::json deviceInfoToJson(const DeviceInfo& d) {
  nlohmann::json j = {{"id", d.id},
                      {"kind", d.kind},
                      {"name", d.name},
                      {"fingerprint", d.fingerprint},
                      {"memory_bytes", d.memory_bytes},
                      {"properties", d.properties}};
  if (d.ceilings) {
    j["ceilings"] = {{"copy_gbps", d.ceilings->copy_gbps},
                     {"gemm_tflops", d.ceilings->gemm_tflops},
                     {"gemm_dtype", d.ceilings->gemm_dtype}};
  } else {
    j["ceilings"] = nullptr;
  }
  return j;
}

DeviceInfo deviceInfoFromJson(const nlohmann::json& j) {
  DeviceInfo d;
  d.id = j.value("id", "");
  d.kind = j.value("kind", "");
  d.name = j.value("name", "");
  d.fingerprint = j.value("fingerprint", "");
  d.memory_bytes = j.value("memory_bytes", std::uint64_t{0});
  d.properties = j.value("properties", nlohmann::json::object());
  if (j.contains("ceilings") && j.at("ceilings").is_object()) {
    const auto& c = j.at("ceilings");
    d.ceilings = DeviceCeilings{c.value("copy_gbps", 0.0), c.value("gemm_tflops", 0.0), c.value("gemm_dtype", "")};
  }
  return d;
}

std::string hostCpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto value = line.find_first_not_of(" \t", line.find(':') + 1);
    return value == std::string::npos ? "" : line.substr(value);
  }
  return "";
}

DeviceInfo describeHostCpu() {
  DeviceInfo d;
  d.id = "cpu";
  d.kind = "cpu";
  const std::string model = hostCpuModel();
  d.name = model.empty() ? "CPU" : model;
  const unsigned threads = std::thread::hardware_concurrency();
  d.memory_bytes = meminfoBytes("MemTotal");
  nlohmann::json p;
  p["model"] = d.name;
  p["threads"] = threads;
  p["online_cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  // Cache hierarchy of cpu0: index0..N with level and type (Data, Instruction, Unified).
  for (int i = 0; i < 8; ++i) {
    const std::string base = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = readFirstLine(base + "level");
    if (level.empty()) break;
    const std::string type = readFirstLine(base + "type");
    const std::uint64_t size = parseCacheSize(readFirstLine(base + "size"));
    std::string key = "l" + level;
    if (type == "Data") key += "d";
    else if (type == "Instruction") key += "i";
    p[key + "_bytes"] = size;
    const std::string shared = readFirstLine(base + "shared_cpu_list");
    if (!shared.empty()) p[key + "_shared_cpus"] = shared;
  }
  p["memory_total_bytes"] = d.memory_bytes;
  d.properties = p;
  d.fingerprint = "cpu|" + d.name + "|" + std::to_string(threads) + "|" + std::to_string(d.memory_bytes >> 20);
  return d;
}

std::uint64_t hostAvailableMemoryBytes() { return meminfoBytes("MemAvailable"); }

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace attnbench
