#include "attnbench/engine/checkpoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "attnbench/errors.h"

namespace attnbench::engine {

namespace fs = std::filesystem;

// A read-only memory map of one safetensors file; unmapped when the last tensor view goes away.
struct Checkpoint::Mapping {
  const std::byte* data = nullptr;
  std::size_t size = 0;

  explicit Mapping(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError("cannot open checkpoint file '" + path.string() + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
      ::close(fd);
      throw InputError("checkpoint file '" + path.string() + "' is empty or unreadable");
    }
    size = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw InputError("cannot map checkpoint file '" + path.string() + "'");
    data = static_cast<const std::byte*>(p);
  }
  ~Mapping() { ::munmap(const_cast<std::byte*>(data), size); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

namespace {

nlohmann::json readJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read '" + path.string() + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception&) {
    throw InputError("'" + path.string() + "' is not valid JSON");
  }
}

int configInt(const nlohmann::json& j, const char* key, const fs::path& path) {
  if (!j.contains(key) || !j.at(key).is_number_integer() || j.at(key).get<long long>() <= 0 ||
      j.at(key).get<long long>() > (1LL << 30)) {
    throw InputError("'" + path.string() + "': \"" + key + "\" must be a positive integer");
  }
  return j.at(key).get<int>();
}

double configNumber(const nlohmann::json& j, const char* key, double fallback, const fs::path& path) {
  if (!j.contains(key)) return fallback;
  if (!j.at(key).is_number() || !(j.at(key).get<double>() > 0)) {
    throw InputError("'" + path.string() + "': \"" + key + "\" must be a positive number");
  }
  return j.at(key).get<double>();
}

DType safetensorsDType(const std::string& name, const std::string& tensor, const fs::path& file) {
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  if (name == "F32") return DType::F32;
  throw InputError("'" + file.string() + "': tensor '" + tensor + "' is " + name + "; attnbench reads F16, BF16 and F32");
}

// Names of files that mark a checkpoint format attnbench does not read, for the error message.
std::string foreignWeightsIn(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".pth" || ext == ".pt" || ext == ".bin" || ext == ".gguf") return entry.path().filename().string();
  }
  return {};
}

}  // namespace

ModelPreset readHfConfig(const fs::path& path) {
  const nlohmann::json j = readJson(path);
  if (!j.is_object()) throw InputError("'" + path.string() + "' is not a JSON object");
  const std::string type = j.value("model_type", std::string("llama"));
  if (type != "llama" && type != "mistral") {
    throw InputError("'" + path.string() + "': model_type '" + type + "' is not a Llama-architecture decoder (llama, mistral)");
  }
  if (j.contains("hidden_act") && j.at("hidden_act") != "silu") {
    throw InputError("'" + path.string() + "': hidden_act must be silu (SwiGLU MLP)");
  }
  if (j.contains("rope_scaling") && !j.at("rope_scaling").is_null()) {
    const auto& scaling = j.at("rope_scaling");
    const std::string kind = scaling.is_object() ? scaling.value("rope_type", scaling.value("type", std::string("?"))) : "?";
    if (kind != "default") throw InputError("'" + path.string() + "': rope scaling '" + kind + "' is not supported");
  }
  ModelPreset m;
  m.name = path.parent_path().filename().string();
  m.display_name = m.name;
  m.layers = configInt(j, "num_hidden_layers", path);
  m.hidden = configInt(j, "hidden_size", path);
  m.heads = configInt(j, "num_attention_heads", path);
  m.kv_heads = j.contains("num_key_value_heads") ? configInt(j, "num_key_value_heads", path) : m.heads;
  m.head_dim = j.contains("head_dim") && !j.at("head_dim").is_null() ? configInt(j, "head_dim", path) : m.hidden / m.heads;
  m.ffn = configInt(j, "intermediate_size", path);
  m.vocab = configInt(j, "vocab_size", path);
  m.rope_theta = configNumber(j, "rope_theta", 10000.0, path);
  m.rms_norm_eps = configNumber(j, "rms_norm_eps", 1e-6, path);  // LlamaConfig's default
  try {
    validateModelShape(m);
  } catch (const InputError& e) {
    throw InputError("'" + path.string() + "': " + e.what());
  }
  return m;
}

Checkpoint Checkpoint::open(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("checkpoint directory '" + dir.string() + "' does not exist");
  Checkpoint ckpt;
  ckpt.dir_ = dir;
  const fs::path config = dir / "config.json";
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  const bool has_weights = fs::exists(single, ec) || fs::exists(index, ec);
  if (!fs::exists(config, ec) || !has_weights) {
    const std::string foreign = foreignWeightsIn(dir);
    if (!foreign.empty()) {
      throw InputError("checkpoint '" + dir.string() + "' holds " + foreign +
                       "; attnbench reads Hugging Face checkpoints (config.json + safetensors) only");
    }
    throw InputError("checkpoint '" + dir.string() + "' needs config.json and model.safetensors (or model.safetensors.index.json)");
  }
  ckpt.model_ = readHfConfig(config);

  std::vector<std::string> files;
  if (fs::exists(index, ec)) {
    const nlohmann::json idx = readJson(index);
    if (!idx.contains("weight_map") || !idx.at("weight_map").is_object()) {
      throw InputError("'" + index.string() + "' has no \"weight_map\" object");
    }
    std::set<std::string> unique;
    for (const auto& [name, file] : idx.at("weight_map").items()) {
      if (!file.is_string()) throw InputError("'" + index.string() + "': weight_map values must be file names");
      unique.insert(file.get<std::string>());
    }
    files.assign(unique.begin(), unique.end());
  } else {
    files.push_back(single.filename().string());
  }

  for (const auto& name : files) {
    const fs::path file = dir / name;
    if (fs::path(name).filename() != fs::path(name)) throw InputError("'" + index.string() + "': shard '" + name + "' is not a file name");
    auto map = std::make_shared<Mapping>(file);
    if (map->size < 8) throw InputError("'" + file.string() + "' is not a safetensors file");
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<std::uint64_t>(map->data[i]);
    if (header_len > map->size - 8) throw InputError("'" + file.string() + "' is not a safetensors file (bad header length)");
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(reinterpret_cast<const char*>(map->data + 8),
                                     reinterpret_cast<const char*>(map->data + 8 + header_len));
    } catch (const nlohmann::json::exception&) {
      throw InputError("'" + file.string() + "' has a damaged safetensors header");
    }
    if (!header.is_object()) throw InputError("'" + file.string() + "' has a damaged safetensors header");
    const std::size_t data_start = 8 + header_len;
    const std::size_t data_size = map->size - data_start;
    for (const auto& [tensor, info] : header.items()) {
      if (tensor == "__metadata__") continue;
      try {
        TensorRef ref;
        ref.dtype = safetensorsDType(info.at("dtype").get<std::string>(), tensor, file);
        std::size_t elements = 1;
        for (const auto& d : info.at("shape")) {
          const auto dim = d.get<std::int64_t>();
          if (dim < 0) throw InputError("'" + file.string() + "': tensor '" + tensor + "' has a negative dimension");
          ref.shape.push_back(dim);
          elements *= static_cast<std::size_t>(dim);
        }
        const auto begin = info.at("data_offsets").at(0).get<std::uint64_t>();
        const auto end = info.at("data_offsets").at(1).get<std::uint64_t>();
        if (begin > end || end > data_size ||
            end - begin != elements * static_cast<std::size_t>(kernels::bytesPerElement(ref.dtype))) {
          throw InputError("'" + file.string() + "': tensor '" + tensor + "' has data offsets outside the file or of the wrong size");
        }
        ref.data = map->data + data_start + begin;
        ref.bytes = end - begin;
        ckpt.tensors_[tensor] = std::move(ref);
      } catch (const nlohmann::json::exception&) {
        throw InputError("'" + file.string() + "': tensor '" + tensor + "' has a damaged header entry");
      }
    }
    ckpt.files_.push_back(std::move(map));
  }
  return ckpt;
}

const TensorRef& Checkpoint::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) throw InputError("checkpoint '" + dir_.string() + "' has no tensor '" + name + "'");
  return it->second;
}

}  // namespace attnbench::engine
