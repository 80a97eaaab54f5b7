#include "wheel_guard.h"

#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QEvent>

namespace attnbench::ui {

namespace {

bool isValueInput(const QObject* object) {
  return qobject_cast<const QAbstractSpinBox*>(object) != nullptr || qobject_cast<const QComboBox*>(object) != nullptr;
}

}  // namespace

WheelGuard::WheelGuard(QObject* parent) : QObject(parent) { qApp->installEventFilter(this); }

bool WheelGuard::eventFilter(QObject* watched, QEvent* event) {
  if (!isValueInput(watched)) return false;
  auto* input = static_cast<QWidget*>(watched);
  // Qt focuses a Qt::WheelFocus widget before any filter sees the wheel event, so the policy is
  // changed as each input is polished (before it is first shown).
  if (event->type() == QEvent::Polish && input->focusPolicy() == Qt::WheelFocus) input->setFocusPolicy(Qt::StrongFocus);
  if (event->type() == QEvent::Wheel && !input->hasFocus()) {
    // Ignored and filtered: QApplication passes the wheel on to the parent (the scroll area).
    event->ignore();
    return true;
  }
  return false;
}

}  // namespace attnbench::ui
