// The wheel over the Sweep panel scrolls the panel; it edits a spin box or combo box only when that
// input has the focus (a wheel over an unfocused Repetitions box used to change it unnoticed).
#include <gtest/gtest.h>

#include <QApplication>
#include <QComboBox>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QWheelEvent>
#include <QtTest/qtestspontaneevent.h>

#include "main_window.h"
#include "sweep_editor.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

// One notch of a mouse wheel over the centre of `target`, delivered to its window as the windowing
// system delivers it (spontaneous: Qt gives focus by policy and passes an ignored wheel to parents).
void wheelOver(QWidget* target, int angle) {
  QWidget* top = target->window();
  const QPointF local = target->mapTo(top, QPointF(target->rect().center()));
  QWheelEvent wheel(local, top->mapToGlobal(local), QPoint(), QPoint(0, angle), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QSpontaneKeyEvent::setSpontaneous(&wheel);
  qApp->notify(top->windowHandle(), &wheel);  // notify() keeps the event spontaneous; sendEvent() would not
  QCoreApplication::processEvents();
}

QScrollArea* scrollAreaOf(QWidget* widget) {
  for (QWidget* w = widget; w != nullptr; w = w->parentWidget()) {
    if (auto* area = qobject_cast<QScrollArea*>(w)) return area;
  }
  return nullptr;
}

TEST(Wheel, ScrollsTheSweepPanelWithoutEditingUnfocusedInputs) {
  test::ensureApp();
  QTemporaryDir dir;
  MainWindow window(test::quietOptions(dir.filePath(QStringLiteral("w.db"))));
  window.resize(1024, 700);
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  auto* repetitions = window.editor()->findChild<QSpinBox*>(QStringLiteral("repetitions"));
  auto* preset = window.editor()->findChild<QComboBox*>(QStringLiteral("preset"));
  ASSERT_NE(repetitions, nullptr);
  ASSERT_NE(preset, nullptr);
  QScrollArea* panel = scrollAreaOf(window.editor());
  ASSERT_NE(panel, nullptr);
  QScrollBar* bar = panel->verticalScrollBar();
  ASSERT_GT(bar->maximum(), 0) << "the Sweep panel does not scroll at 1024x700";

  SweepSpec spec = test::fixtureRun().spec;
  spec.repetitions = 3;
  window.editor()->setSpec(spec);
  const nlohmann::json before = specToJson(*window.editor()->spec());
  const int preset_index = preset->currentIndex();
  window.logPane()->setFocus();

  for (QWidget* input : {static_cast<QWidget*>(preset), static_cast<QWidget*>(repetitions)}) {
    for (int angle : {-120, 120}) {
      panel->ensureWidgetVisible(input);
      const int scrolled = bar->value();
      // Down unless already at the end, then up: the panel has somewhere to go.
      const int notch = (angle < 0 && scrolled == bar->maximum()) || (angle > 0 && scrolled == 0) ? -angle : angle;
      wheelOver(input, notch);
      EXPECT_NE(bar->value(), scrolled) << "the wheel did not scroll the panel";
      EXPECT_FALSE(input->hasFocus()) << "the wheel gave an input the focus";
    }
  }
  EXPECT_EQ(specToJson(*window.editor()->spec()), before);
  EXPECT_EQ(repetitions->value(), 3);
  EXPECT_EQ(preset->currentIndex(), preset_index);

  // A focused input still takes the wheel.
  panel->ensureWidgetVisible(repetitions);
  repetitions->setFocus();
  ASSERT_TRUE(repetitions->hasFocus());
  wheelOver(repetitions, 120);
  EXPECT_EQ(repetitions->value(), 4);
}

}  // namespace
}  // namespace attnbench::ui
