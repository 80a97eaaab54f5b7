#include "attnbench/model_presets.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "attnbench/errors.h"
#include "attnbench/text_checks.h"
#include "embedded_resources.h"

namespace attnbench {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

int requirePositiveInt(const nlohmann::json& j, const char* key, const std::string& model) {
  if (!j.contains(key)) throw InputError("model '" + model + "': missing \"" + key + "\"");
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<long long>() <= 0 || v.get<long long>() > (1LL << 30)) {
    throw InputError("model '" + model + "': \"" + key + "\" must be a positive integer");
  }
  return v.get<int>();
}

double optionalPositiveNumber(const nlohmann::json& j, const char* key, const std::string& model, double fallback) {
  if (!j.contains(key)) return fallback;
  const auto& v = j.at(key);
  if (!v.is_number() || !(v.get<double>() > 0)) {
    throw InputError("model '" + model + "': \"" + key + "\" must be a positive number");
  }
  return v.get<double>();
}

}  // namespace

const std::vector<int>& supportedHeadDims() {
  static const std::vector<int> dims = {32, 64, 80, 96, 128, 256};
  return dims;
}

ModelPreset modelFromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw InputError("a custom model must be a JSON object");
  ModelPreset m;
  if (!j.contains("name") || !j.at("name").is_string() || j.at("name").get<std::string>().empty()) {
    throw InputError("a custom model needs a non-empty string \"name\"");
  }
  m.name = j.at("name").get<std::string>();
  requireCleanText(m.name, "a custom model's name");
  const std::string shown = printableText(m.name);
  m.display_name = m.name;
  if (j.contains("display_name")) {
    if (!j.at("display_name").is_string()) throw InputError("model '" + shown + "': \"display_name\" must be a string");
    m.display_name = j.at("display_name").get<std::string>();
    requireCleanText(m.display_name, "model '" + shown + "': \"display_name\"");
  }
  if (j.contains("aliases")) {
    if (!j.at("aliases").is_array()) throw InputError("model '" + shown + "': \"aliases\" must be an array");
    for (const auto& a : j.at("aliases")) {
      if (!a.is_string()) throw InputError("model '" + shown + "': aliases must be strings");
      m.aliases.push_back(a.get<std::string>());
      requireCleanText(m.aliases.back(), "model '" + shown + "': an alias");
    }
  }
  m.heads = requirePositiveInt(j, "heads", m.name);
  m.kv_heads = j.contains("kv_heads") ? requirePositiveInt(j, "kv_heads", m.name) : m.heads;
  m.head_dim = requirePositiveInt(j, "head_dim", m.name);
  m.layers = j.contains("layers") ? requirePositiveInt(j, "layers", m.name) : 0;
  m.hidden = j.contains("hidden") ? requirePositiveInt(j, "hidden", m.name) : hiddenSize(m.heads, m.head_dim);
  m.ffn = j.contains("ffn") ? requirePositiveInt(j, "ffn", m.name) : 0;
  m.vocab = j.contains("vocab") ? requirePositiveInt(j, "vocab", m.name) : 0;
  m.rope_theta = optionalPositiveNumber(j, "rope_theta", m.name, m.rope_theta);
  m.rms_norm_eps = optionalPositiveNumber(j, "rms_norm_eps", m.name, m.rms_norm_eps);
  validateModelShape(m);
  return m;
}

nlohmann::json modelToJson(const ModelPreset& m) {
  nlohmann::json j = {{"name", m.name}, {"display_name", m.display_name}, {"aliases", m.aliases},
                      {"heads", m.heads}, {"kv_heads", m.kv_heads},         {"head_dim", m.head_dim}};
  // Optional facts of a preset; a custom shape may not have them (nor a hidden size that fits an int).
  for (const auto& [key, value] : {std::pair{"hidden", m.hidden}, std::pair{"layers", m.layers}, std::pair{"ffn", m.ffn},
                                   std::pair{"vocab", m.vocab}}) {
    if (value > 0) j[key] = value;
  }
  j["rope_theta"] = m.rope_theta;
  j["rms_norm_eps"] = m.rms_norm_eps;
  return j;
}

int hiddenSize(int heads, int head_dim) {
  int hidden = 0;
  return __builtin_mul_overflow(heads, head_dim, &hidden) ? 0 : hidden;
}

std::string headSplitReason(const ModelPreset& m, int ranks) {
  const std::string degree = "tensor parallel " + std::to_string(ranks);
  if (ranks < 1) return "the tensor parallel degree must be at least 1, not " + std::to_string(ranks);
  if (m.heads % ranks != 0) return degree + " does not divide " + m.name + "'s " + std::to_string(m.heads) + " query heads";
  if (m.kv_heads % ranks != 0 && ranks % m.kv_heads != 0) {
    return degree + " neither divides " + m.name + "'s " + std::to_string(m.kv_heads) + " KV heads nor is a multiple of them";
  }
  return {};
}

ModelPreset rankHeads(const ModelPreset& full, int ranks) {
  ModelPreset m = full;
  m.heads = full.heads / ranks;
  m.kv_heads = std::max(1, full.kv_heads / ranks);
  return m;
}

void validateModelShape(const ModelPreset& m) {
  if (m.heads <= 0 || m.kv_heads <= 0 || m.head_dim <= 0) {
    throw InputError("model '" + m.name + "': heads, kv_heads and head_dim must be positive");
  }
  if (m.heads % m.kv_heads != 0) {
    throw InputError("model '" + m.name + "': kv_heads (" + std::to_string(m.kv_heads) + ") must divide heads (" +
                     std::to_string(m.heads) + ")");
  }
  const auto& dims = supportedHeadDims();
  if (std::find(dims.begin(), dims.end(), m.head_dim) == dims.end()) {
    std::string list;
    for (int d : dims) list += (list.empty() ? "" : ", ") + std::to_string(d);
    throw InputError("model '" + m.name + "': head dim " + std::to_string(m.head_dim) + " is not supported (" + list +
                     ")");
  }
}

const std::vector<ModelPreset>& builtinModels() {
  static const std::vector<ModelPreset> models = [] {
    std::vector<ModelPreset> out;
    const auto doc = nlohmann::json::parse(resources::modelPresetsJson());
    for (const auto& entry : doc.at("models")) out.push_back(modelFromJson(entry));
    return out;
  }();
  return models;
}

const ModelPreset& findModel(const std::string& name) {
  const std::string wanted = lower(name);
  for (const auto& m : builtinModels()) {
    if (lower(m.name) == wanted) return m;
    for (const auto& alias : m.aliases) {
      if (lower(alias) == wanted) return m;
    }
  }
  std::string known;
  for (const auto& m : builtinModels()) known += (known.empty() ? "" : ", ") + m.name;
  throw InputError("unknown model '" + name + "' (known: " + known + "; or give --heads/--kv-heads/--head-dim)");
}

}  // namespace attnbench
