// A CUPTI activity recorder, loaded into an unmodified program with LD_PRELOAD (benchmarks/
// decode_timeline.py builds and loads it): every kernel's start and end on the GPU's clock, graph
// replays included (the kernels of a CUDA graph are recorded one by one, with the replay's correlation
// id), written as CSV to the file named by TIMELINE_OUT when the program exits. Programmatic dependent
// launches show as overlapping kernels: a kernel's start is its first block's, which may wait at
// griddepcontrol.wait for the kernel before it; its end is its last block's.
//
// Built against the CUPTI the GPU machine has (the CUDA toolkit's extras/CUPTI or the nvidia-cuda-cupti
// wheel); KERNEL_RECORD names that CUPTI's newest kernel record (CUpti_ActivityKernelN).
#include <cupti_activity.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#ifndef KERNEL_RECORD
#error "define KERNEL_RECORD as the CUPTI headers' newest CUpti_ActivityKernelN"
#endif

namespace {

FILE* g_csv = nullptr;
constexpr std::size_t kBufferBytes = std::size_t{16} << 20;

void CUPTIAPI bufferRequested(std::uint8_t** buffer, std::size_t* size, std::size_t* max_records) {
  *size = kBufferBytes;
  *buffer = static_cast<std::uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *max_records = 0;  // as many as fit
}

void CUPTIAPI bufferCompleted(CUcontext, std::uint32_t, std::uint8_t* buffer, std::size_t, std::size_t valid) {
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
    const auto* k = reinterpret_cast<const KERNEL_RECORD*>(record);
    std::fprintf(g_csv, "%llu,%llu,%u,%u,%u,%d,%d,%d,%s\n", static_cast<unsigned long long>(k->start),
                 static_cast<unsigned long long>(k->end), k->correlationId, k->graphId, k->streamId, k->gridX,
                 k->blockX, k->registersPerThread, k->name);
  }
  std::free(buffer);
}

void flushAtExit() {
  cuptiActivityFlushAll(1);
  std::fclose(g_csv);
}

// Runs before the program's main, so before its first CUDA call.
__attribute__((constructor)) void startRecording() {
  const char* path = std::getenv("TIMELINE_OUT");
  if (path == nullptr || (g_csv = std::fopen(path, "w")) == nullptr) {
    std::fprintf(stderr, "kernel_timeline: set TIMELINE_OUT to a writable file; nothing recorded\n");
    return;
  }
  std::fprintf(g_csv, "start_ns,end_ns,correlation,graph,stream,grid_x,block_x,registers,name\n");
  if (cuptiActivityRegisterCallbacks(bufferRequested, bufferCompleted) != CUPTI_SUCCESS ||
      cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
    std::fprintf(stderr, "kernel_timeline: CUPTI refused the kernel activity; nothing recorded\n");
    return;
  }
  std::atexit(flushAtExit);
}

}  // namespace
