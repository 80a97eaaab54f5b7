// A tiny Llama-architecture checkpoint in Hugging Face format (config.json + safetensors, sharded or
// not, F32/F16/BF16), written by the tests themselves: the engine's tests and the inference workload's
// end-to-end test read it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnbench/engine/checkpoint.h"
#include "attnbench/engine/engine.h"

namespace attnbench::tiny {

namespace fs = std::filesystem;

// The tiny model: GQA (4 query heads over 2 KV heads), head dim 64 so that the CUDA flash kernel
// runs it too, a non-default rope theta and epsilon so that both are read from config.json.
constexpr int kLayers = 2, kHidden = 256, kHeads = 4, kKvHeads = 2, kHeadDim = 64, kFfn = 320, kVocab = 300;
constexpr double kTheta = 50000.0, kEps = 1e-5;

struct HostTensor {
  std::vector<std::int64_t> shape;
  std::vector<double> values;  // exactly representable in fp16 and bf16 (see draw)
};
using Weights = std::map<std::string, HostTensor>;

// Values k * step with |k| < 128 and step a power of two: exact in bf16 (8 significant bits) and
// fp16, so every file dtype holds the very same numbers.
inline Weights makeTinyWeights(bool with_lm_head) {
  Weights w;
  std::uint64_t state = 12345;
  const auto draw = [&](double step, double offset) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto k = static_cast<int>((state >> 33) % 255) - 127;
    return offset + k * step;
  };
  const auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double step, double offset) {
    HostTensor t{shape, {}};
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    for (std::int64_t i = 0; i < n; ++i) t.values.push_back(draw(step, offset));
    w[name] = std::move(t);
  };
  const double matrix_step = 1.0 / 2048;  // |w| < 1/16: activations stay O(1) through the layers
  add("model.embed_tokens.weight", {kVocab, kHidden}, 1.0 / 128, 0);
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {kHidden}, 1.0 / 128, 1.0);
    add(p + "self_attn.q_proj.weight", {kHeads * kHeadDim, kHidden}, matrix_step, 0);
    add(p + "self_attn.k_proj.weight", {kKvHeads * kHeadDim, kHidden}, matrix_step, 0);
    add(p + "self_attn.v_proj.weight", {kKvHeads * kHeadDim, kHidden}, matrix_step, 0);
    add(p + "self_attn.o_proj.weight", {kHidden, kHeads * kHeadDim}, matrix_step, 0);
    add(p + "post_attention_layernorm.weight", {kHidden}, 1.0 / 128, 1.0);
    add(p + "mlp.gate_proj.weight", {kFfn, kHidden}, matrix_step, 0);
    add(p + "mlp.up_proj.weight", {kFfn, kHidden}, matrix_step, 0);
    add(p + "mlp.down_proj.weight", {kHidden, kFfn}, matrix_step, 0);
  }
  add("model.norm.weight", {kHidden}, 1.0 / 128, 1.0);
  if (with_lm_head) add("lm_head.weight", {kVocab, kHidden}, matrix_step * 4, 0);
  return w;
}

// Bit patterns of exactly representable values (asserted), written by hand so that the file
// writer shares nothing with the reader under test.
inline std::uint16_t bf16Bits(double v) {
  const auto f = static_cast<float>(v);
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  EXPECT_EQ(bits & 0xFFFFu, 0u) << v << " is not exact in bf16";
  return static_cast<std::uint16_t>(bits >> 16);
}
inline std::uint16_t fp16Bits(double v) {
  if (v == 0) return 0;
  int exponent = 0;
  const double mantissa = std::frexp(std::fabs(v), &exponent);  // v = mantissa * 2^exponent, mantissa in [0.5, 1)
  const double fraction = (mantissa * 2 - 1) * 1024;
  EXPECT_EQ(fraction, std::floor(fraction)) << v << " is not exact in fp16";
  EXPECT_GE(exponent - 1, -14);
  return static_cast<std::uint16_t>((v < 0 ? 0x8000 : 0) | ((exponent - 1 + 15) << 10) | static_cast<int>(fraction));
}

inline void writeSafetensors(const fs::path& file, const Weights& w, const std::vector<std::string>& names, const std::string& dtype) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  std::string data;
  for (const auto& name : names) {
    const HostTensor& t = w.at(name);
    const std::size_t begin = data.size();
    for (double v : t.values) {
      if (dtype == "F32") {
        const auto f = static_cast<float>(v);
        data.append(reinterpret_cast<const char*>(&f), 4);
      } else {
        const std::uint16_t bits = dtype == "BF16" ? bf16Bits(v) : fp16Bits(v);
        data.append(reinterpret_cast<const char*>(&bits), 2);
      }
    }
    header[name] = {{"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text += ' ';  // the format pads the header to 8 bytes
  const std::uint64_t len = text.size();
  std::ofstream out(file, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xFF));
  out << text << data;
}

inline void writeConfig(const fs::path& dir, bool tied, const nlohmann::json& extra = {}) {
  nlohmann::json c = {{"architectures", {"LlamaForCausalLM"}},
                      {"model_type", "llama"},
                      {"hidden_size", kHidden},
                      {"intermediate_size", kFfn},
                      {"num_hidden_layers", kLayers},
                      {"num_attention_heads", kHeads},
                      {"num_key_value_heads", kKvHeads},
                      {"head_dim", kHeadDim},
                      {"vocab_size", kVocab},
                      {"rope_theta", kTheta},
                      {"rms_norm_eps", kEps},
                      {"hidden_act", "silu"},
                      {"max_position_embeddings", 256},
                      {"tie_word_embeddings", tied},
                      {"torch_dtype", "float16"}};
  for (const auto& [k, v] : extra.items()) c[k] = v;
  std::ofstream(dir / "config.json") << c.dump(2);
}

// Writes the tiny checkpoint: one file, or two shards with an index.
inline fs::path writeTinyCheckpoint(const std::string& tag, const std::string& dtype, bool sharded, bool tied = false) {
  const fs::path dir = fs::temp_directory_path() / ("attnbench_tiny_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const Weights w = makeTinyWeights(!tied);
  writeConfig(dir, tied);
  std::vector<std::string> names;
  for (const auto& [name, t] : w) names.push_back(name);
  if (!sharded) {
    writeSafetensors(dir / "model.safetensors", w, names, dtype);
    return dir;
  }
  const auto half = names.size() / 2;
  const std::vector<std::string> first(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(half));
  const std::vector<std::string> second(names.begin() + static_cast<std::ptrdiff_t>(half), names.end());
  writeSafetensors(dir / "model-00001-of-00002.safetensors", w, first, dtype);
  writeSafetensors(dir / "model-00002-of-00002.safetensors", w, second, dtype);
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (const auto& n : first) index["weight_map"][n] = "model-00001-of-00002.safetensors";
  for (const auto& n : second) index["weight_map"][n] = "model-00002-of-00002.safetensors";
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
  return dir;
}

// An engine over the tiny checkpoint in `dir`: batch 2, a cache of 24 tokens, steps of up to 12; fp32
// on the CPU engine, fp16 on CUDA.
inline engine::EngineConfig tinyConfig(const fs::path& dir, engine::EngineDevice device, engine::AttentionChoice attention,
                                       int tensor_parallel = 1) {
  engine::EngineConfig c;
  c.model = engine::Checkpoint::open(dir).model();
  c.checkpoint_dir = dir.string();
  c.device = device;
  c.dtype = device == engine::EngineDevice::Cpu ? kernels::DType::F32 : kernels::DType::F16;
  c.attention = attention;
  c.batch = 2;
  c.max_tokens = 24;
  c.max_step_tokens = 12;
  c.tensor_parallel = tensor_parallel;
  return c;
}

}  // namespace attnbench::tiny
