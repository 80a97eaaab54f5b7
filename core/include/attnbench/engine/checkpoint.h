// Hugging Face checkpoints: config.json plus model.safetensors, or shards listed in
// model.safetensors.index.json. The files are memory-mapped; tensors are fp16, bf16 or fp32.
// Anything else (a consolidated .pth, PyTorch pickles, another dtype, a missing file) is an
// InputError with a one-line message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attnbench/kernels/attention_params.h"
#include "attnbench/model_presets.h"

namespace attnbench::engine {

using kernels::DType;

// One tensor inside a mapped safetensors file.
struct TensorRef {
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;  // little-endian elements, row-major
  std::size_t bytes = 0;

  std::size_t count() const { return bytes / static_cast<std::size_t>(kernels::bytesPerElement(dtype)); }
};

// The model facts of a config.json (Llama-architecture: model_type llama or mistral, SiLU MLP, no
// rope scaling). The preset's name is the directory's name.
ModelPreset readHfConfig(const std::filesystem::path& config_json);

class Checkpoint {
 public:
  // Opens `dir` (config.json + safetensors); throws InputError naming what is missing or wrong.
  static Checkpoint open(const std::filesystem::path& dir);

  const ModelPreset& model() const { return model_; }
  // Whether the checkpoint stores a separate LM head (else it shares the embedding matrix).
  bool hasTensor(const std::string& name) const { return tensors_.count(name) != 0; }
  // The named tensor; InputError when absent.
  const TensorRef& tensor(const std::string& name) const;
  const std::filesystem::path& directory() const { return dir_; }

 private:
  struct Mapping;
  std::filesystem::path dir_;
  ModelPreset model_;
  std::vector<std::shared_ptr<Mapping>> files_;
  std::map<std::string, TensorRef> tensors_;
};

}  // namespace attnbench::engine
