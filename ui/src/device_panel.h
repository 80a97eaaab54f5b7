// The device panel: a memory-hierarchy table (registers, shared memory / L1, L2, device memory for
// a GPU; caches and memory for the CPU) from the device's properties and measured ceilings, and
// every property the device reports. It lists this machine's devices and the device of the run on
// screen, which may have been recorded elsewhere (a GPU host's run opened on a laptop).
#pragma once

#include <cstdint>
#include <vector>

#include <QWidget>

#include "attnbench/device_info.h"
#include "attnbench/store.h"

class QComboBox;
class QLabel;
class QTableWidget;

namespace attnbench::ui {

struct HierarchyRow {
  QString level, size, bandwidth, note;
};
// The rows of the memory-hierarchy table for `device` (keys that are absent are left out).
std::vector<HierarchyRow> memoryHierarchy(const DeviceInfo& device);

class DevicePanel : public QWidget {
  Q_OBJECT
 public:
  explicit DevicePanel(QWidget* parent = nullptr);
  // This machine's devices (replaces the list).
  void setDevices(const std::vector<DeviceInfo>& devices);
  // Selects the device a run ran on: this machine's entry when it is one of them (its record
  // brings the measured ceilings), else an entry "<name> — from run #N" added for it.
  void showRunDevice(const RunRecord& run);
  // The device of a live run (this machine's).
  void showDevice(const DeviceInfo& device);
  QComboBox* chooser() const { return chooser_; }
  QLabel* headline() const { return headline_; }
  QTableWidget* hierarchyTable() const { return hierarchy_; }
  QTableWidget* propertiesTable() const { return properties_; }

 private:
  struct Entry {
    DeviceInfo device;
    std::int64_t run_id = 0;  // 0: this machine's; else the run it was recorded by
    std::string host;         // where that run ran
  };
  QString label(const Entry& entry) const;
  void select(int index);
  std::vector<Entry> entries_;
  QComboBox* chooser_;
  QLabel* headline_;
  QTableWidget* hierarchy_;
  QTableWidget* properties_;
};

}  // namespace attnbench::ui
