#include <gtest/gtest.h>

#include <QComboBox>
#include <QGroupBox>
#include <QLabel>
#include <QSpinBox>
#include <QLineEdit>
#include <QListWidget>
#include <QToolButton>

#include "sweep_editor.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

SweepSpec richSpec() {
  SweepSpec spec;
  spec.name = "round-trip";
  spec.models = {builtinModels().at(0)};
  ModelPreset custom;
  custom.name = custom.display_name = "tiny-gqa";
  custom.heads = 8;
  custom.kv_heads = 2;
  custom.head_dim = 64;
  custom.hidden = 512;
  custom.layers = 4;
  spec.models.push_back(custom);
  spec.seq_lens = {128, 384, 1024, 3000};
  spec.batch_sizes = {1, 4};
  spec.dtypes = {DType::F16, DType::F32};
  spec.causal = {false, true};
  spec.kernels = {KernelKind::Flash, KernelKind::Standard, KernelKind::Cudnn};
  spec.tiles = {TileShape{}, TileShape{64, 64}};
  spec.repetitions = 7;
  spec.timing = TimingMethod::Batch;
  spec.warmup = 2;
  spec.check_correctness = false;
  spec.device = "cpu";
  spec.max_memory_bytes = 2ull << 30;
  spec.seed = 42;
  spec.threads = 2;
  spec.l2_flush = true;
  return spec;
}

// The set semantics of the axes: the editor may order values its own way.
nlohmann::json normalized(const SweepSpec& spec) {
  nlohmann::json j = specToJson(spec);
  for (const char* key : {"seq_lens", "batch_sizes", "dtypes", "causal", "kernels", "tiles"}) {
    std::sort(j[key].begin(), j[key].end());
  }
  return j;
}

QLabel* visibleError(SweepEditor& editor) {
  for (QLabel* label : editor.findChildren<QLabel*>(QStringLiteral("fieldError"))) {
    if (!label->isHidden()) return label;
  }
  return nullptr;
}

TEST(SweepEditor, RoundTripsASpec) {
  test::ensureApp();
  SweepEditor editor;
  const SweepSpec in = richSpec();
  editor.setSpec(in);
  ASSERT_TRUE(editor.isValid()) << editor.errors().join(QLatin1Char('\n')).toStdString();
  EXPECT_EQ(normalized(*editor.spec()), normalized(in));
}

TEST(SweepEditor, RoundTripsEveryShippedPreset) {
  test::ensureApp();
  SweepEditor editor;
  for (const auto& name : sweepPresetNames()) {
    const SweepSpec in = sweepPreset(name);
    editor.setSpec(in);
    ASSERT_TRUE(editor.isValid()) << name << ": " << editor.errors().join(QLatin1Char('\n')).toStdString();
    EXPECT_EQ(normalized(*editor.spec()), normalized(in)) << name;
  }
}

TEST(SweepEditor, ShowsMessagesInPlace) {
  test::ensureApp();
  SweepEditor editor;
  editor.setSpec(richSpec());
  ASSERT_TRUE(editor.isValid());
  EXPECT_EQ(visibleError(editor), nullptr);

  auto* batches = editor.findChildren<QLineEdit*>().at(0);
  for (QLineEdit* e : editor.findChildren<QLineEdit*>()) {
    if (e->text() == QLatin1String("1, 4")) batches = e;
  }
  batches->setText(QStringLiteral("1, zero"));
  EXPECT_FALSE(editor.isValid());
  QLabel* error = visibleError(editor);
  ASSERT_NE(error, nullptr);
  EXPECT_TRUE(error->text().contains(QLatin1String("zero"))) << error->text().toStdString();
  EXPECT_TRUE(editor.errors().join(QString()).contains(QLatin1String("Batch sizes")));

  batches->setText(QStringLiteral("2"));
  EXPECT_TRUE(editor.isValid());
  EXPECT_EQ(editor.spec()->batch_sizes, std::vector<int>{2});
}

TEST(SweepEditor, RejectsAnEmptyAxisAndABadTile) {
  test::ensureApp();
  SweepEditor editor;
  SweepSpec spec = richSpec();
  spec.seq_lens = {1024};
  editor.setSpec(spec);
  ASSERT_TRUE(editor.isValid());
  for (QToolButton* b : editor.findChildren<QToolButton*>()) b->setChecked(false);
  EXPECT_FALSE(editor.isValid());
  EXPECT_TRUE(editor.errors().join(QString()).contains(QLatin1String("Sequence lengths")));

  editor.setSpec(richSpec());
  for (QLineEdit* e : editor.findChildren<QLineEdit*>()) {
    if (e->text().contains(QLatin1String("64x64"))) e->setText(QStringLiteral("auto, banana"));
  }
  EXPECT_FALSE(editor.isValid());
  EXPECT_TRUE(editor.errors().join(QString()).contains(QLatin1String("Flash tiles")));
}

TEST(SweepEditor, TheWorkloadSelectorShowsTheDecodeRowsAndBuildsADecodeSpec) {
  test::ensureApp();
  SweepEditor editor;
  SweepSpec spec = richSpec();
  spec.tiles = {TileShape{}};
  editor.setSpec(spec);
  auto* workload = editor.findChild<QComboBox*>(QStringLiteral("workload"));
  auto* q_lens = editor.findChild<QLineEdit*>(QStringLiteral("qLens"));
  auto* page_size = editor.findChild<QSpinBox*>(QStringLiteral("pageSize"));
  auto* decode_rows = editor.findChild<QGroupBox*>(QStringLiteral("decodeRows"));
  ASSERT_TRUE(workload && q_lens && page_size && decode_rows);
  EXPECT_TRUE(decode_rows->isHidden()) << "decode rows hidden for attention";
  EXPECT_EQ(editor.spec()->workload, Workload::Attention);

  workload->setCurrentIndex(workload->findData(static_cast<int>(Workload::Decode)));
  EXPECT_FALSE(decode_rows->isHidden());
  q_lens->setText(QStringLiteral("1, 4"));
  page_size->setValue(32);
  ASSERT_TRUE(editor.isValid()) << editor.errors().join(QLatin1Char('\n')).toStdString();
  EXPECT_EQ(editor.spec()->workload, Workload::Decode);
  EXPECT_EQ(editor.spec()->q_lens, (std::vector<int>{1, 4}));
  EXPECT_EQ(editor.spec()->decode.page_size, 32);
  EXPECT_EQ(expandPoints(*editor.spec()).front().shape.seq_q, 1);

  q_lens->setText(QStringLiteral("17"));
  EXPECT_FALSE(editor.isValid());
  EXPECT_TRUE(editor.errors().join(QString()).contains(QLatin1String("q_len"))) << editor.errors().join(QString()).toStdString();
  page_size->setValue(8);
  q_lens->setText(QStringLiteral("2"));
  EXPECT_FALSE(editor.isValid()) << "a page of 8 tokens is below the limit";
}

// An inference sweep carries the engine's KV cache page size (the spec's decode.page_size), validated
// like the decode workload's, and a spec loaded back shows it.
TEST(SweepEditor, TheInferenceRowsCarryTheKvCachePageSize) {
  test::ensureApp();
  SweepEditor editor;
  SweepSpec spec = richSpec();
  spec.tiles = {TileShape{}};
  spec.causal = {true};  // a decoder's inference is causal
  editor.setSpec(spec);
  auto* workload = editor.findChild<QComboBox*>(QStringLiteral("workload"));
  auto* page_size = editor.findChild<QSpinBox*>(QStringLiteral("inferencePageSize"));
  ASSERT_TRUE(workload && page_size);
  workload->setCurrentIndex(workload->findData(static_cast<int>(Workload::Inference)));
  page_size->setValue(64);
  ASSERT_TRUE(editor.isValid()) << editor.errors().join(QLatin1Char('\n')).toStdString();
  const SweepSpec paged = *editor.spec();
  EXPECT_EQ(paged.workload, Workload::Inference);
  EXPECT_EQ(paged.decode.page_size, 64);
  EXPECT_EQ(expandPoints(paged).front().decode.page_size, 64);
  page_size->setValue(8);
  EXPECT_FALSE(editor.isValid()) << "a page of 8 tokens is below the limit";

  SweepEditor reloaded;
  reloaded.setSpec(paged);
  EXPECT_EQ(reloaded.findChild<QSpinBox*>(QStringLiteral("inferencePageSize"))->value(), 64);
  EXPECT_EQ(reloaded.spec()->decode.page_size, 64);
}

// "Split over N ranks": the spec's tensor_parallel, checked against every model's heads by core.
TEST(SweepEditor, SplitOverRanksSetsTensorParallelAndRefusesAnUnevenSplit) {
  test::ensureApp();
  SweepEditor editor;
  SweepSpec spec = richSpec();
  spec.tensor_parallel = 2;
  editor.setSpec(spec);
  auto* ranks = editor.findChild<QSpinBox*>(QStringLiteral("tensorParallel"));
  ASSERT_TRUE(ranks);
  EXPECT_EQ(ranks->value(), 2);
  ASSERT_TRUE(editor.isValid()) << editor.errors().join(QLatin1Char('\n')).toStdString();
  EXPECT_EQ(editor.spec()->tensor_parallel, 2);
  EXPECT_EQ(expandPoints(*editor.spec()).front().tensor_parallel, 2);
  ranks->setValue(3);  // 32 query heads do not split three ways
  EXPECT_FALSE(editor.isValid());
  EXPECT_TRUE(editor.errors().join(QString()).contains(QLatin1String("tensor parallel 3 does not divide")))
      << editor.errors().join(QString()).toStdString();
  ranks->setValue(1);
  EXPECT_TRUE(editor.isValid());
  EXPECT_EQ(editor.spec()->tensor_parallel, 1);
}

TEST(SweepEditor, ParsesIntegerLists) {
  QString error;
  EXPECT_EQ(parsePositiveInts(QStringLiteral("1, 2;4 4"), &error), (std::vector<int>{1, 2, 4}));
  EXPECT_FALSE(parsePositiveInts(QStringLiteral("1, -2"), &error));
  EXPECT_TRUE(error.contains(QLatin1String("-2")));
}

}  // namespace
}  // namespace attnbench::ui
