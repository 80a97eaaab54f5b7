// The device panel: a memory-hierarchy table (registers, shared memory / L1, L2, device memory for
// a GPU; caches and memory for the CPU) from the device's properties and measured ceilings, and
// every property the device reports.
#pragma once

#include <vector>

#include <QWidget>

#include "attnbench/device_info.h"

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
  // The devices to choose from (this machine's, plus the device of the shown run).
  void setDevices(const std::vector<DeviceInfo>& devices);
  // Adds (or refreshes) a device, e.g. the one a stored run ran on, and selects it.
  void showDevice(const DeviceInfo& device);
  QTableWidget* hierarchyTable() const { return hierarchy_; }

 private:
  void select(int index);
  std::vector<DeviceInfo> devices_;
  QComboBox* chooser_;
  QLabel* headline_;
  QTableWidget* hierarchy_;
  QTableWidget* properties_;
};

}  // namespace attnbench::ui
