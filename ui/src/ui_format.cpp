#include "ui_format.h"

#include <cmath>

#include <QDateTime>

namespace attnbench::ui {

QString formatMs(double ms) {
  if (ms >= 1000.0) return QStringLiteral("%1 s").arg(ms / 1000.0, 0, 'f', 2);
  if (ms >= 10.0) return QStringLiteral("%1 ms").arg(ms, 0, 'f', 1);
  if (ms >= 0.1) return QStringLiteral("%1 ms").arg(ms, 0, 'f', 3);
  return QStringLiteral("%1 µs").arg(ms * 1000.0, 0, 'f', 2);
}

QString formatByteCount(std::uint64_t bytes) {
  return bytes == 0 ? QStringLiteral("—") : qs(formatBytes(bytes));
}

QString formatTflops(double tflops) {
  return QString::number(tflops, 'f', tflops >= 10.0 ? 1 : (tflops >= 0.1 ? 3 : 4));
}

QString formatEta(double seconds) {
  const auto total = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  if (total < 60) return QStringLiteral("%1 s").arg(total);
  if (total < 3600) return QStringLiteral("%1 min %2 s").arg(total / 60).arg(total % 60, 2, 10, QChar('0'));
  return QStringLiteral("%1 h %2 min").arg(total / 3600).arg((total % 3600) / 60, 2, 10, QChar('0'));
}

QString modelsSummary(const SweepSpec& spec) {
  if (spec.models.empty()) return QStringLiteral("—");
  const auto& first = spec.models.front();
  QString name = qs(first.display_name.empty() ? first.name : first.display_name);
  if (spec.models.size() > 1) name += QStringLiteral(" + %1 more").arg(spec.models.size() - 1);
  return name;
}

QString RunWorker::deviceName() const { return device.section(QStringLiteral(" ("), 0, 0); }

std::vector<RunWorker> runWorkers(const RunRecord& run) {
  std::vector<RunWorker> workers;
  for (const QString& label : qs(run.provenance.value("pool.workers")).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
    workers.push_back({label, qs(run.provenance.value(label.toStdString() + ".device"))});
  }
  return workers;
}

QString runTitle(const RunRecord& run) {
  return QStringLiteral("#%1 %2 — %3, %4")
      .arg(run.id)
      .arg(qs(run.name))
      .arg(qs(run.device.name.empty() ? run.device.id : run.device.name))
      .arg(qs(runStatusName(run.status)));
}

QString localTime(const std::string& iso) {
  if (iso.empty()) return {};
  QDateTime t = QDateTime::fromString(qs(iso), Qt::ISODateWithMs);
  if (!t.isValid()) t = QDateTime::fromString(qs(iso), Qt::ISODate);
  if (!t.isValid()) return qs(iso);
  return t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm"));
}

QString workerLineLevel(const QString& line) {
  const QString text = line.trimmed();
  if (text.startsWith(QLatin1String("note:"))) return {};
  if (text.startsWith(QLatin1String("error:"))) return QStringLiteral("error");
  if (text.startsWith(QLatin1String("warning:"))) return QStringLiteral("warning");
  return QStringLiteral("worker");
}

QString pointLogLine(const PointResult& r) {
  const QString label = qs(r.point.label());
  if (r.status != PointStatus::Ok) {
    return QStringLiteral("%1: %2%3").arg(label, qs(statusName(r.status)), r.message.empty() ? QString() : QStringLiteral(" — ") + qs(r.message));
  }
  return QStringLiteral("%1: %2, %3 TFLOP/s").arg(label, formatMs(r.stats.median_ms), formatTflops(r.tflops));
}

}  // namespace attnbench::ui
