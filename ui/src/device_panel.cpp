#include "device_panel.h"

#include <QComboBox>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <optional>

#include "ui_format.h"

namespace attnbench::ui {

namespace {

// A property as a number when present and numeric.
std::optional<double> number(const nlohmann::json& props, const char* key) {
  auto it = props.find(key);
  if (it == props.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::uint64_t bytes(double v) { return static_cast<std::uint64_t>(v); }

QString text(const nlohmann::json& value) {
  if (value.is_string()) return qs(value.get<std::string>());
  if (value.is_number_integer() || value.is_number_unsigned()) {
    return QLocale().toString(value.get<qlonglong>());
  }
  return qs(value.dump());
}

QString measuredCopy(const DeviceInfo& d) {
  return d.ceilings && d.ceilings->copy_gbps > 0 ? QStringLiteral("%1 GB/s measured").arg(d.ceilings->copy_gbps, 0, 'f', 1)
                                                 : QStringLiteral("not measured yet");
}

}  // namespace

std::vector<HierarchyRow> memoryHierarchy(const DeviceInfo& d) {
  const nlohmann::json& p = d.properties;
  std::vector<HierarchyRow> rows;
  if (d.kind == "cuda") {
    // The keys describeCudaDevice writes (core/src/cuda_backend.cpp).
    const auto sms = number(p, "sm_count");
    const QString times_sms = sms ? QStringLiteral(" × %1 SMs").arg(*sms) : QString();
    if (auto regs = number(p, "registers_per_sm")) {
      rows.push_back({QStringLiteral("Registers"), formatByteCount(bytes(*regs * 4.0 * sms.value_or(1.0))), QString(),
                      QStringLiteral("%1 × 32-bit (%2) per SM%3")
                          .arg(QLocale().toString(static_cast<qlonglong>(*regs)), formatByteCount(bytes(*regs * 4.0)),
                               times_sms)});
    }
    if (auto smem = number(p, "shared_memory_per_sm")) {
      QString note = QStringLiteral("%1 per SM%2").arg(formatByteCount(bytes(*smem)), times_sms);
      if (auto block = number(p, "shared_memory_per_block")) {
        note += QStringLiteral("; per block %1").arg(formatByteCount(bytes(*block)));
        if (auto optin = number(p, "shared_memory_per_block_optin")) {
          note += QStringLiteral(", up to %1 opt-in").arg(formatByteCount(bytes(*optin)));
        }
      } else if (auto optin = number(p, "shared_memory_per_block_optin")) {
        note += QStringLiteral("; up to %1 per block (opt-in)").arg(formatByteCount(bytes(*optin)));
      }
      rows.push_back({QStringLiteral("Shared memory / L1"), formatByteCount(bytes(*smem * sms.value_or(1.0))), QString(), note});
    }
    if (auto l2 = number(p, "l2_cache_bytes")) {
      rows.push_back({QStringLiteral("L2 cache"), formatByteCount(bytes(*l2)), QString(), QStringLiteral("shared by all SMs")});
    }
    QStringList bandwidth;
    auto peak = number(p, "memory_peak_gbps");
    const auto bus = number(p, "memory_bus_width_bits");
    const auto clock = number(p, "memory_clock_khz");
    if (!peak && bus && clock) peak = 2.0 * *clock * 1e3 * (*bus / 8.0) / 1e9;  // DDR: two transfers per clock
    if (peak && *peak > 0) bandwidth << QStringLiteral("%1 GB/s peak").arg(*peak, 0, 'f', 0);
    bandwidth << measuredCopy(d);
    rows.push_back({QStringLiteral("Device memory"), formatByteCount(d.memory_bytes), bandwidth.join(QStringLiteral("; ")),
                    bus ? QStringLiteral("%1-bit bus").arg(*bus) : QString()});
  } else {
    // The keys describeHostCpu writes (core/src/device_info.cpp): l1d/l1i/l2/l3 from sysfs.
    auto cores = number(p, "cores");
    if (!cores) cores = number(p, "threads");
    const QString per_core = cores ? QStringLiteral("per core (× %1)").arg(*cores) : QStringLiteral("per core");
    if (auto l1 = number(p, "l1d_bytes")) rows.push_back({QStringLiteral("L1 data cache"), formatByteCount(bytes(*l1)), QString(), per_core});
    if (auto l2 = number(p, "l2_bytes")) rows.push_back({QStringLiteral("L2 cache"), formatByteCount(bytes(*l2)), QString(), per_core});
    if (auto l3 = number(p, "l3_bytes")) rows.push_back({QStringLiteral("L3 cache"), formatByteCount(bytes(*l3)), QString(), QStringLiteral("shared")});
    rows.push_back({QStringLiteral("Main memory"), formatByteCount(d.memory_bytes), measuredCopy(d), QString()});
  }
  const QString gemm = d.ceilings && !d.ceilings->gemm_dtype.empty() ? qs(d.ceilings->gemm_dtype) + QLatin1Char(' ') : QString();
  rows.push_back({QStringLiteral("Compute (%1GEMM)").arg(gemm), QString(),
                  d.ceilings && d.ceilings->gemm_tflops > 0
                      ? QStringLiteral("%1 TFLOP/s measured").arg(formatTflops(d.ceilings->gemm_tflops))
                      : QStringLiteral("not measured yet"),
                  d.kind == "cuda" ? QStringLiteral("cuBLAS, large square GEMM") : QStringLiteral("Eigen, all threads")});
  return rows;
}

DevicePanel::DevicePanel(QWidget* parent) : QWidget(parent) {
  chooser_ = new QComboBox;
  headline_ = new QLabel;
  headline_->setWordWrap(true);
  headline_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  hierarchy_ = new QTableWidget(0, 4);
  hierarchy_->setHorizontalHeaderLabels({tr("Level"), tr("Size"), tr("Bandwidth"), tr("Notes")});
  properties_ = new QTableWidget(0, 2);
  properties_->setHorizontalHeaderLabels({tr("Property"), tr("Value")});
  for (QTableWidget* t : {hierarchy_, properties_}) {
    t->verticalHeader()->hide();
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setAlternatingRowColors(true);
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 8);
  }
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(chooser_);
  layout->addWidget(headline_);
  layout->addWidget(new QLabel(tr("<b>Memory hierarchy</b>")));
  layout->addWidget(hierarchy_, 1);
  layout->addWidget(new QLabel(tr("<b>All properties</b>")));
  layout->addWidget(properties_, 2);
  connect(chooser_, &QComboBox::currentIndexChanged, this, &DevicePanel::select);
}

QString DevicePanel::label(const Entry& e) const {
  if (e.run_id != 0) return QStringLiteral("%1 — from run #%2").arg(qs(e.device.name)).arg(e.run_id);
  return QStringLiteral("%1 — %2").arg(qs(e.device.id), qs(e.device.name));
}

void DevicePanel::setDevices(const std::vector<DeviceInfo>& devices) {
  entries_.clear();
  for (const auto& d : devices) entries_.push_back({d, 0, {}});
  chooser_->blockSignals(true);
  chooser_->clear();
  for (const auto& e : entries_) chooser_->addItem(label(e));
  chooser_->blockSignals(false);
  select(entries_.empty() ? -1 : 0);
}

void DevicePanel::showDevice(const DeviceInfo& device) {
  RunRecord run;
  run.device = device;
  showRunDevice(run);
}

void DevicePanel::showRunDevice(const RunRecord& run) {
  const DeviceInfo& device = run.device;
  auto same = [&](const DeviceInfo& d) {
    return !device.fingerprint.empty() ? d.fingerprint == device.fingerprint : d.id == device.id && d.name == device.name;
  };
  // This machine's device first; else the entry of another run on the same device.
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.run_id == 0 && same(e.device); });
  if (it == entries_.end()) {
    it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.run_id != 0 && same(e.device); });
  }
  const bool local = it != entries_.end() && it->run_id == 0;
  if (it == entries_.end()) {
    entries_.push_back({device, run.id, run.host});
    it = entries_.end() - 1;
  } else if (local) {
    if (device.ceilings || !it->device.ceilings) it->device = device;  // a run's record carries the measured ceilings
  } else {
    *it = {device, run.id, run.host};  // the latest run recorded on that device
  }
  const int index = static_cast<int>(it - entries_.begin());
  chooser_->blockSignals(true);
  if (index == chooser_->count()) {
    chooser_->addItem(label(*it));
  } else {
    chooser_->setItemText(index, label(*it));
  }
  chooser_->setCurrentIndex(index);
  chooser_->blockSignals(false);
  select(index);
}

void DevicePanel::select(int index) {
  hierarchy_->setRowCount(0);
  properties_->setRowCount(0);
  if (index < 0 || static_cast<std::size_t>(index) >= entries_.size()) {
    headline_->setText(tr("No device."));
    return;
  }
  const Entry& entry = entries_[static_cast<std::size_t>(index)];
  const DeviceInfo& d = entry.device;
  QString headline = QStringLiteral("<b>%1</b> (%2), %3 memory").arg(qs(d.name).toHtmlEscaped(), qs(d.id), formatByteCount(d.memory_bytes));
  if (d.properties.contains("compute_capability")) {
    headline += QStringLiteral(", compute capability %1").arg(text(d.properties["compute_capability"]));
  }
  if (entry.run_id != 0) {
    headline += tr("<br>As recorded by run #%1%2, not a device of this machine.")
                    .arg(entry.run_id)
                    .arg(entry.host.empty() ? QString() : tr(" on %1").arg(qs(entry.host).toHtmlEscaped()));
  }
  headline_->setText(headline);

  const auto rows = memoryHierarchy(d);
  hierarchy_->setRowCount(static_cast<int>(rows.size()));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const QStringList cells = {rows[r].level, rows[r].size, rows[r].bandwidth, rows[r].note};
    for (int c = 0; c < cells.size(); ++c) hierarchy_->setItem(static_cast<int>(r), c, new QTableWidgetItem(cells[c]));
  }
  hierarchy_->resizeColumnsToContents();

  properties_->setRowCount(static_cast<int>(d.properties.size()));
  int r = 0;
  for (auto it = d.properties.begin(); it != d.properties.end(); ++it, ++r) {
    properties_->setItem(r, 0, new QTableWidgetItem(qs(it.key())));
    QString value = text(it.value());
    const bool bytes_key = it.key().size() > 6 && it.key().compare(it.key().size() - 6, 6, "_bytes") == 0;
    if (bytes_key && it.value().is_number()) value += QStringLiteral("  (%1)").arg(formatByteCount(bytes(it.value().get<double>())));
    properties_->setItem(r, 1, new QTableWidgetItem(value));
  }
  properties_->resizeColumnToContents(0);
}

}  // namespace attnbench::ui
