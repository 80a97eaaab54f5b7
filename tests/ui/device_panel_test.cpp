// The device panel shows the device a stored run was recorded on (here an H100, as recorded by
// the seed-matrix run), next to this machine's devices, with its memory hierarchy and ceilings.
#include <gtest/gtest.h>

#include <fstream>

#include <QComboBox>
#include <QLabel>
#include <QTableWidget>
#include <QTemporaryDir>

#include "device_panel.h"
#include "main_window.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

DeviceInfo recordedH100() {
  std::ifstream in(test::dataPath(QStringLiteral("h100_device.json")).toStdString());
  return deviceInfoFromJson(nlohmann::json::parse(in));
}

const HierarchyRow* findRow(const std::vector<HierarchyRow>& rows, const QString& level) {
  for (const auto& r : rows) {
    if (r.level.startsWith(level)) return &r;
  }
  return nullptr;
}

TEST(DevicePanel, MemoryHierarchyOfARecordedH100) {
  const auto rows = memoryHierarchy(recordedH100());
  const HierarchyRow* regs = findRow(rows, QStringLiteral("Registers"));
  ASSERT_NE(regs, nullptr);
  EXPECT_EQ(regs->size, QStringLiteral("33.00 MiB"));  // 65536 x 4 bytes x 132 SMs
  EXPECT_TRUE(regs->note.contains(QLatin1String("132 SMs"))) << regs->note.toStdString();
  const HierarchyRow* smem = findRow(rows, QStringLiteral("Shared memory / L1"));
  ASSERT_NE(smem, nullptr);
  EXPECT_TRUE(smem->note.contains(QLatin1String("228.00 KiB per SM"))) << smem->note.toStdString();
  EXPECT_TRUE(smem->note.contains(QLatin1String("48.00 KiB"))) << smem->note.toStdString();
  EXPECT_TRUE(smem->note.contains(QLatin1String("227.00 KiB opt-in"))) << smem->note.toStdString();
  const HierarchyRow* l2 = findRow(rows, QStringLiteral("L2"));
  ASSERT_NE(l2, nullptr);
  EXPECT_EQ(l2->size, QStringLiteral("50.00 MiB"));
  const HierarchyRow* memory = findRow(rows, QStringLiteral("Device memory"));
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->size, QStringLiteral("79.18 GiB"));
  EXPECT_TRUE(memory->bandwidth.contains(QLatin1String("3352 GB/s peak"))) << memory->bandwidth.toStdString();
  EXPECT_TRUE(memory->bandwidth.contains(QLatin1String("3007.3 GB/s measured"))) << memory->bandwidth.toStdString();
  const HierarchyRow* compute = findRow(rows, QStringLiteral("Compute (fp16 GEMM)"));
  ASSERT_NE(compute, nullptr);
  EXPECT_TRUE(compute->bandwidth.contains(QLatin1String("766"))) << compute->bandwidth.toStdString();
}

TEST(DevicePanel, MemoryHierarchyOfTheHostCpu) {
  const DeviceInfo cpu = describeHostCpu();
  const auto rows = memoryHierarchy(cpu);
  ASSERT_NE(findRow(rows, QStringLiteral("Main memory")), nullptr);
  if (cpu.properties.contains("l1d_bytes")) {
    EXPECT_NE(findRow(rows, QStringLiteral("L1 data cache")), nullptr);
  }
  EXPECT_NE(findRow(rows, QStringLiteral("Compute")), nullptr);  // "not measured yet" without ceilings
}

TEST(DevicePanel, ListsAnOpenedRunsDeviceBesideTheLocalOnes) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("gpu.db"));
  std::int64_t gpu_run = 0, cpu_run = 0;
  {
    auto store = Store::open(db.toStdString());
    RunRecord run = test::fixtureRun();
    cpu_run = store->createRun(run.spec, run.device, run.total_points);
    gpu_run = test::storeFixtureRunOn(*store, recordedH100());
  }
  MainWindow window(test::quietOptions(db));
  DevicePanel* panel = window.devicePanel();
  panel->setDevices({test::fixtureRun().device});  // "this machine": the fixture's CPU
  ASSERT_EQ(panel->chooser()->count(), 1);

  ASSERT_TRUE(window.openRun(gpu_run));
  ASSERT_EQ(panel->chooser()->count(), 2);
  EXPECT_EQ(panel->chooser()->currentText(), QStringLiteral("NVIDIA H100 80GB HBM3 — from run #%1").arg(gpu_run));
  EXPECT_TRUE(panel->headline()->text().contains(QLatin1String("compute capability 9.0")));
  EXPECT_TRUE(panel->headline()->text().contains(QStringLiteral("run #%1").arg(gpu_run)));
  QTableWidget* table = panel->hierarchyTable();
  QStringList levels;
  for (int r = 0; r < table->rowCount(); ++r) levels << table->item(r, 0)->text();
  EXPECT_EQ(levels, (QStringList{QStringLiteral("Registers"), QStringLiteral("Shared memory / L1"), QStringLiteral("L2 cache"),
                                 QStringLiteral("Device memory"), QStringLiteral("Compute (fp16 GEMM)")}));
  EXPECT_GT(panel->propertiesTable()->rowCount(), 10);

  // A run of this machine selects the local entry and adds none.
  ASSERT_TRUE(window.openRun(cpu_run));
  EXPECT_EQ(panel->chooser()->count(), 2);
  EXPECT_EQ(panel->chooser()->currentIndex(), 0);
  // Back to the GPU run: its entry is reused.
  ASSERT_TRUE(window.openRun(gpu_run));
  EXPECT_EQ(panel->chooser()->count(), 2);
  EXPECT_EQ(panel->chooser()->currentIndex(), 1);
}

}  // namespace
}  // namespace attnbench::ui
