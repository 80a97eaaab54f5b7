// Host side of the flash kernel families: device facts, support checks, family and tile choice, and
// the head dim x dtype dispatch into the instantiation files (Hopper's where the family resolves to it).
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "attnbench/kernels/cuda_attention.h"
#include "flash_fwd_launch.h"
#include "flash_fwd_traits.h"
#include "flash_instances.h"
#include "hopper/hopper_tiles.h"
#if ATTNBENCH_HOPPER_FLASH
#include "hopper/hopper_launch.h"
#endif

namespace attnbench::kernels::cuda {
namespace {

// The tables below have one row per entry of the instance lists in cmake/KernelInstances.cmake
// (flash_instances.h is generated from them).

// Per sm80 head dim: its instantiated tiles and its auto-tile order (FlashTileSet).
struct FlashHeadDim {
  int head_dim = 0;
  std::span<const detail::FlashTileInfo> tiles;
  std::span<const TileShape> preferred;
};

#define ATTNBENCH_FLASH_HEAD_DIM_ROW(kHeadDim) \
  FlashHeadDim{kHeadDim, detail::kFlashTileInfos<kHeadDim>, detail::FlashTileSet<kHeadDim>::kPreferred},
constexpr std::array kFlashHeadDims{ATTNBENCH_SM80_FLASH_HEAD_DIMS(ATTNBENCH_FLASH_HEAD_DIM_ROW)};
#undef ATTNBENCH_FLASH_HEAD_DIM_ROW

// Per (head dim, dtype) instance of a family: its entry point.
template <class Run>
struct Instance {
  int head_dim = 0;
  DType dtype = DType::F16;
  Run* run = nullptr;
};

#define ATTNBENCH_FLASH_INSTANCE_ROW(kHeadDim, kDType) \
  Instance{kHeadDim, DType::kDType, &detail::runFlashForward<kHeadDim, DType::kDType>},
constexpr std::array kFlashInstances{ATTNBENCH_SM80_FLASH_INSTANCES(ATTNBENCH_FLASH_INSTANCE_ROW)};
#undef ATTNBENCH_FLASH_INSTANCE_ROW

#if ATTNBENCH_HOPPER_FLASH
#define ATTNBENCH_HOPPER_INSTANCE_ROW(kHeadDim, kDType) \
  Instance{kHeadDim, DType::kDType, &hopper::runHopperForward<kHeadDim, DType::kDType>},
constexpr std::array kHopperInstances{ATTNBENCH_HOPPER_FLASH_INSTANCES(ATTNBENCH_HOPPER_INSTANCE_ROW)};
#undef ATTNBENCH_HOPPER_INSTANCE_ROW
#endif

const FlashHeadDim* findHeadDim(int head_dim) {
  for (const auto& entry : kFlashHeadDims) {
    if (entry.head_dim == head_dim) return &entry;
  }
  return nullptr;
}

std::span<const detail::FlashTileInfo> tilesFor(int head_dim) {
  const auto* entry = findHeadDim(head_dim);
  return entry != nullptr ? entry->tiles : std::span<const detail::FlashTileInfo>{};
}

const detail::FlashTileInfo* findTile(int head_dim, TileShape tile) {
  for (const auto& info : tilesFor(head_dim)) {
    if (info.rows == tile.rows && info.cols == tile.cols) return &info;
  }
  return nullptr;
}

// Auto-tile preference per head dim (FlashTileSet<D>::kPreferred), first that fits the device's
// shared memory wins.
std::span<const TileShape> preferredTiles(int head_dim) {
  const auto* entry = findHeadDim(head_dim);
  return entry != nullptr ? entry->preferred : std::span<const TileShape>{};
}

// Too few 128-row blocks to keep every SM busy for long: with fewer than one per SM (causal: four,
// since its blocks range from one key tile to all of them) 64-row blocks finish sooner. On the
// H100 at H = 32 that is N <= 512, causal N <= 2048.
bool preferShortBlocks(const AttentionParams& p, const DeviceTraits& device) {
  if (device.multiprocessor_count <= 0) return false;
  const std::int64_t blocks = static_cast<std::int64_t>((p.seq_q + 127) / 128) * p.heads_q * p.batch;
  return blocks < std::int64_t{p.causal ? 4 : 1} * device.multiprocessor_count;
}

std::string tileName(int rows, int cols) { return std::to_string(rows) + "x" + std::to_string(cols); }

std::string kilobytes(std::size_t bytes) { return std::to_string(bytes / 1024) + " KB"; }

std::string smName(const DeviceTraits& device) {
  return "sm_" + std::to_string(device.sm_major) + std::to_string(device.sm_minor);
}

bool stridesAligned(const AttentionParams& p) {
  const std::int64_t strides[] = {p.q_batch_stride, p.q_head_stride, p.q_row_stride, p.k_batch_stride,
                                  p.k_head_stride,  p.k_row_stride,  p.v_batch_stride, p.v_head_stride,
                                  p.v_row_stride,   p.o_batch_stride, p.o_head_stride, p.o_row_stride};
  for (const std::int64_t stride : strides) {
    if (stride % 8 != 0) return false;
  }
  return true;
}

bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }

// The row of an instance table for params' head dim and dtype; null where that pair was not
// instantiated.
template <class InstanceTable>
const typename InstanceTable::value_type* findInstance(const InstanceTable& table, const AttentionParams& params) {
  for (const auto& instance : table) {
    if (instance.head_dim == params.head_dim && instance.dtype == params.dtype) return &instance;
  }
  return nullptr;
}

}  // namespace

DeviceTraits queryDeviceTraits(int device) {
  int major = 0;
  int minor = 0;
  int smem_optin = 0;
  int multiprocessors = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());  // leave no error behind for the caller's next check
    return {};
  }
  return DeviceTraits{major, minor, static_cast<std::size_t>(smem_optin), multiprocessors};
}


namespace {

// Checks both families share: dtype, head dim, shape, strides.
std::string commonUnsupportedReason(const AttentionParams& params) {
  if (params.dtype == DType::F32) return "flash stores fp16 or bf16, not fp32";
  if (tilesFor(params.head_dim).empty()) {
    return "flash supports head dim " ATTNBENCH_SM80_FLASH_HEAD_DIMS_TEXT ", not " + std::to_string(params.head_dim);
  }
  if (params.batch <= 0 || params.heads_q <= 0 || params.heads_kv <= 0 || params.seq_q <= 0 || params.seq_kv <= 0) {
    return "batch, heads and sequence lengths must be positive";
  }
  if (params.heads_q % params.heads_kv != 0) return "heads_q must be a multiple of heads_kv";
  if (!stridesAligned(params)) return "flash copies 16-byte chunks: every stride must be a multiple of 8 elements";
  return {};
}

std::string sm80UnsupportedReason(const AttentionParams& params, TileShape tile, const DeviceTraits& device) {
  const auto tiles = tilesFor(params.head_dim);
  if (params.heads_q > 65535 || params.batch > 65535) return "flash takes at most 65535 heads and 65535 batches";
  if (device.sm_major == 0) return "no CUDA device";
  if (device.sm_major * 10 + device.sm_minor < 75) return "flash needs sm_75 or newer, not " + smName(device);
  if (params.dtype == DType::BF16 && device.sm_major < 8) return "bf16 needs sm_80 or newer, not " + smName(device);

  const TileShape resolved = resolveFlashTile(params, tile, device, FlashFamily::Sm80);
  if (resolved.isAuto()) {
    return "no flash tile for head dim " + std::to_string(params.head_dim) + " fits the " +
           kilobytes(device.smem_per_block_optin) + " of shared memory per block of " + smName(device);
  }
  const auto* info = findTile(params.head_dim, resolved);
  if (info == nullptr) {
    std::string names;
    for (const auto& t : tiles) names += (names.empty() ? "" : ", ") + tileName(t.rows, t.cols);
    return "flash tiles for head dim " + std::to_string(params.head_dim) + " are " + names + ", not " +
           tileName(resolved.rows, resolved.cols);
  }
  if (info->smem_bytes > device.smem_per_block_optin) {
    return "tile " + tileName(info->rows, info->cols) + " at head dim " + std::to_string(params.head_dim) + " needs " +
           kilobytes(info->smem_bytes) + " of shared memory; " + smName(device) + " allows " +
           kilobytes(device.smem_per_block_optin) + " per block";
  }
  return {};
}

const hopper::HopperTile* findHopperTile(int head_dim, TileShape tile) {
  for (const auto& t : hopper::kHopperTiles) {
    if (t.head_dim == head_dim && t.rows == tile.rows && t.cols == tile.cols) return &t;
  }
  return nullptr;
}

// The first tile listed per head dim is the measured choice (kernels/cuda/NOTES.md).
TileShape hopperAutoTile(int head_dim) {
  for (const auto& t : hopper::kHopperTiles) {
    if (t.head_dim == head_dim) return {t.rows, t.cols};
  }
  return {};
}

std::string hopperUnsupportedReason(const AttentionParams& params, TileShape tile, const DeviceTraits& device) {
  if (!hopperFlashCompiled()) return "this build has no Hopper flash kernels (CUDA architecture 90 was not built)";
  if (device.sm_major == 0) return "no CUDA device";
  if (device.sm_major != 9 || device.sm_minor != 0) {
    return "the Hopper flash kernels run on sm_90 (H100, H200) only, not " + smName(device);
  }
  const TileShape resolved = tile.isAuto() ? hopperAutoTile(params.head_dim) : tile;
  const auto* info = findHopperTile(params.head_dim, resolved);
  if (info == nullptr) {
    std::string names;
    for (const auto& t : hopper::kHopperTiles) {
      if (t.head_dim == params.head_dim) names += (names.empty() ? "" : ", ") + tileName(t.rows, t.cols);
    }
    return "Hopper flash tiles for head dim " + std::to_string(params.head_dim) + " are " + names + ", not " +
           tileName(resolved.rows, resolved.cols);
  }
  if (info->sharedBytes() > device.smem_per_block_optin) {
    return "Hopper tile " + tileName(info->rows, info->cols) + " needs " + kilobytes(info->sharedBytes()) +
           " of shared memory; the device allows " + kilobytes(device.smem_per_block_optin);
  }
  const std::int64_t work_items =
      std::int64_t{(params.seq_q + hopper::kBlockM - 1) / hopper::kBlockM} * params.heads_q * params.batch;
  if (work_items > std::int64_t{1} << 31) return "more than 2^31 query tiles";
  return {};
}

}  // namespace

std::string_view flashFamilyName(FlashFamily family) {
  switch (family) {
    case FlashFamily::Auto: return "auto";
    case FlashFamily::Sm80: return "sm80";
    case FlashFamily::Hopper: return "hopper";
  }
  return "?";
}

bool hopperFlashCompiled() { return ATTNBENCH_HOPPER_FLASH != 0; }

FlashFamily resolveFlashFamily(const AttentionParams& params, TileShape tile, FlashFamily requested,
                               const DeviceTraits& device) {
  if (requested != FlashFamily::Auto) return requested;
  const bool hopper_tile = tile.isAuto() || findHopperTile(params.head_dim, tile) != nullptr;
  if (hopper_tile && commonUnsupportedReason(params).empty() && hopperUnsupportedReason(params, tile, device).empty()) {
    return FlashFamily::Hopper;
  }
  return FlashFamily::Sm80;
}

TileShape resolveFlashTile(const AttentionParams& params, TileShape requested, const DeviceTraits& device,
                           FlashFamily family) {
  if (!requested.isAuto()) return requested;
  if (resolveFlashFamily(params, requested, family, device) == FlashFamily::Hopper) {
    return hopperAutoTile(params.head_dim);
  }
  const bool short_blocks = preferShortBlocks(params, device);
  TileShape fallback = requested;
  for (const TileShape tile : preferredTiles(params.head_dim)) {
    const auto* info = findTile(params.head_dim, tile);
    if (info == nullptr || info->smem_bytes > device.smem_per_block_optin) continue;
    if (!short_blocks || tile.rows == 64) return tile;
    if (fallback.isAuto()) fallback = tile;
  }
  return fallback;
}

std::string flashUnsupportedReason(const AttentionParams& params, TileShape tile, const DeviceTraits& device,
                                   FlashFamily family) {
  if (std::string reason = commonUnsupportedReason(params); !reason.empty()) return reason;
  return resolveFlashFamily(params, tile, family, device) == FlashFamily::Hopper
             ? hopperUnsupportedReason(params, tile, device)
             : sm80UnsupportedReason(params, tile, device);
}

cudaError_t flashForward(const AttentionParams& params, TileShape tile, cudaStream_t stream, FlashFamily family) {
  int device = 0;
  if (const cudaError_t status = cudaGetDevice(&device); status != cudaSuccess) return status;
  const DeviceTraits traits = queryDeviceTraits(device);
  const FlashFamily resolved_family = resolveFlashFamily(params, tile, family, traits);
  const TileShape resolved = resolveFlashTile(params, tile, traits, resolved_family);
  if (!flashUnsupportedReason(params, resolved, traits, resolved_family).empty()) return cudaErrorNotSupported;
  if (params.q == nullptr || params.k == nullptr || params.v == nullptr || params.o == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (!aligned16(params.q) || !aligned16(params.k) || !aligned16(params.v) || !aligned16(params.o)) {
    return cudaErrorMisalignedAddress;
  }

#if ATTNBENCH_HOPPER_FLASH
  if (resolved_family == FlashFamily::Hopper) {
    const auto* instance = findInstance(kHopperInstances, params);
    return instance != nullptr ? instance->run(params, resolved, traits.multiprocessor_count, stream)
                               : cudaErrorNotSupported;
  }
#endif
  const auto* instance = findInstance(kFlashInstances, params);
  return instance != nullptr ? instance->run(params, resolved, stream) : cudaErrorNotSupported;
}

}  // namespace attnbench::kernels::cuda
