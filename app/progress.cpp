#include "progress.h"

namespace attnbench {
namespace {

std::string formatDuration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

}  // namespace

void ProgressBar::onEvent(const RunEvent& event) {
  std::visit(
      [this](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, RunStartedEvent>) {
          total_ = e.total_points;
          done_ = done_at_start_ = e.done_points;
          started_ = std::chrono::steady_clock::now();
          draw("");
        } else if constexpr (std::is_same_v<E, PointStartedEvent>) {
          draw(e.point.label());
        } else if constexpr (std::is_same_v<E, PointFinishedEvent>) {
          done_ = e.done;
          if (e.result.status != PointStatus::Ok) {
            // Keep non-ok points visible above the bar.
            std::fprintf(out_, "\r\033[K  point %d: %s: %s\n", e.result.point.index, statusName(e.result.status).c_str(),
                         e.result.message.c_str());
          }
          draw("");
        } else if constexpr (std::is_same_v<E, NoteEvent>) {
          std::fprintf(out_, "\r\033[K%s: %s\n", e.level.c_str(), e.message.c_str());
        } else {
          std::fprintf(out_, "\r\033[K");
        }
      },
      event);
  std::fflush(out_);
}

void ProgressBar::draw(const std::string& label) {
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? done_ * kWidth / total_ : 0;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::string eta = "--";
  const int ran = done_ - done_at_start_;
  if (ran > 0) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    eta = formatDuration(elapsed / ran * (total_ - done_));
  }
  std::fprintf(out_, "\r\033[K[%s] %d/%d ETA %s  %s", bar.c_str(), done_, total_, eta.c_str(), label.c_str());
}

}  // namespace attnbench
