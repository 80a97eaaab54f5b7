// LLM shapes the sweeps run on. Built-in presets come from resources/models/presets.json (compiled
// in); a custom shape can be given on the command line or in a spec file.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace attnbench {

struct ModelPreset {
  std::string name;                  // canonical id, e.g. "llama-2-7b"
  std::string display_name;          // e.g. "Llama-2-7B"
  std::vector<std::string> aliases;  // other spellings accepted, e.g. "llama/7b" (architecture/variant)
  int layers = 0;
  int hidden = 0;  // 0 when unknown (a custom shape whose heads x head_dim overflows an int)
  int heads = 0;     // query heads
  int kv_heads = 0;  // key/value heads (< heads: GQA)
  int head_dim = 0;
  int ffn = 0;
  int vocab = 0;
  double rope_theta = 10000.0;  // rotary embedding base (config.json "rope_theta")
  double rms_norm_eps = 1e-5;   // RMSNorm epsilon (config.json "rms_norm_eps")
};

// The presets shipped with attnbench, in file order.
const std::vector<ModelPreset>& builtinModels();

// Looks a model up by name or alias (case-insensitive); throws InputError listing the known names.
const ModelPreset& findModel(const std::string& name);

// Checks a shape's numbers (positive, kv_heads divides heads, head dim supported); throws InputError.
void validateModelShape(const ModelPreset& model);

// Tensor parallelism's split of the heads over `ranks`: empty when it divides the query heads and
// divides the KV heads or is a multiple of them (ranks whose query heads share a KV head each hold a
// copy of it), else a one-line reason.
std::string headSplitReason(const ModelPreset& model, int ranks);
// The heads one of `ranks` holds (headSplitReason empty): heads / ranks query heads and
// max(1, kv_heads / ranks) KV heads; the rest of the preset unchanged.
ModelPreset rankHeads(const ModelPreset& model, int ranks);

// heads x head_dim, or 0 where the product does not fit an int.
int hiddenSize(int heads, int head_dim);

// Head dims any backend of attnbench can run (individual kernels may support fewer).
const std::vector<int>& supportedHeadDims();

ModelPreset modelFromJson(const nlohmann::json& j);  // a preset object (custom shapes)
nlohmann::json modelToJson(const ModelPreset& model);

}  // namespace attnbench
