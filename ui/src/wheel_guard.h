// The mouse wheel changes a spin box or combo box only while it has the keyboard focus. Otherwise
// the wheel scrolls whatever holds it (the Sweep panel) instead of silently editing a value that
// happened to pass under the pointer. Installed once on the application by the main window; it also
// stops the wheel from giving those inputs the focus (Qt::StrongFocus instead of Qt::WheelFocus).
#pragma once

#include <QObject>

namespace attnbench::ui {

class WheelGuard : public QObject {
 public:
  // Filters every widget of the application; removed when `parent` is destroyed.
  explicit WheelGuard(QObject* parent);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;
};

}  // namespace attnbench::ui
