#include <gtest/gtest.h>

#include <QLabel>
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

TEST(SweepEditor, ParsesIntegerLists) {
  QString error;
  EXPECT_EQ(parsePositiveInts(QStringLiteral("1, 2;4 4"), &error), (std::vector<int>{1, 2, 4}));
  EXPECT_FALSE(parsePositiveInts(QStringLiteral("1, -2"), &error));
  EXPECT_TRUE(error.contains(QLatin1String("-2")));
}

}  // namespace
}  // namespace attnbench::ui
