// Runs the points of the inference workload through the transformer engine (attnbench/engine): one
// engine per point, memory predicted first, then time to first token, decode with and without the KV
// cache and, with check_correctness, the logits against the standard kernel's and an fp32 reference.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "attnbench/device_info.h"
#include "attnbench/results.h"
#include "attnbench/sweep_spec.h"

namespace attnbench {

// The CPU engine runs tiny models only: larger weights are skipped with this limit in the reason.
constexpr std::uint64_t kCpuEngineMaxWeightBytes = std::uint64_t{1} << 30;

class InferencePointRunner {
 public:
  // Runs `point` on `device` ("cpu" or "cuda:N") within `budget_bytes`. `check_cancel` throws to
  // abandon the point between measurements; kernel_ms gains the time of every timed engine call.
  PointResult run(const SweepSpec& spec, const SweepPoint& point, const DeviceInfo& device, std::uint64_t budget_bytes,
                  const std::function<void()>& check_cancel, double& kernel_ms);

 private:
  // Logits of the checked positions per shape (model, batch, N, dtype, depth): the standard kernel's,
  // which its flash point is compared with, and the fp32 CPU engine's.
  std::map<std::string, std::vector<float>> standard_logits_;
  std::map<std::string, std::vector<float>> fp32_logits_;
};

}  // namespace attnbench
