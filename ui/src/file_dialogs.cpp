#include "file_dialogs.h"

#include <QFileDialog>
#include <QFileIconProvider>

namespace attnbench::ui {

namespace {

// QFileIconProvider's icon(QFileInfo) and type(QFileInfo) ask the MIME database, which reads a
// file's first bytes whenever its name does not settle the type (".db" does not).
class SuffixIconProvider : public QFileIconProvider {
 public:
  QIcon icon(const QFileInfo& info) const override { return QFileIconProvider::icon(info.isDir() ? Folder : File); }
  QString type(const QFileInfo& info) const override {
    if (info.isDir()) return QFileDialog::tr("Folder");
    return info.suffix().isEmpty() ? QFileDialog::tr("File") : QFileDialog::tr("%1 file").arg(info.suffix().toUpper());
  }
  // Asked with a type only (the sidebar, the "computer" entry): plain icons, nothing read.
  using QFileIconProvider::icon;
};

QString runDialog(QFileDialog& dialog, QString* selected_filter) {
  listFilesBySuffixOnly(dialog);
  if (dialog.exec() != QDialog::Accepted || dialog.selectedFiles().isEmpty()) return {};
  if (selected_filter != nullptr) *selected_filter = dialog.selectedNameFilter();
  return dialog.selectedFiles().constFirst();
}

}  // namespace

void listFilesBySuffixOnly(QFileDialog& dialog) {
  // One provider for every dialog; it has no state. Created on first use, after the QApplication.
  static SuffixIconProvider provider;
  dialog.setOption(QFileDialog::DontUseNativeDialog);
  dialog.setOption(QFileDialog::DontUseCustomDirectoryIcons);
  dialog.setIconProvider(&provider);
}

QString chooseOpenFile(QWidget* parent, const QString& title, const QString& dir, const QString& filters) {
  QFileDialog dialog(parent, title, dir, filters);
  dialog.setFileMode(QFileDialog::ExistingFile);
  dialog.setAcceptMode(QFileDialog::AcceptOpen);
  return runDialog(dialog, nullptr);
}

QString chooseSaveFile(QWidget* parent, const QString& title, const QString& start, const QString& filters,
                       QString* selected_filter) {
  QFileDialog dialog(parent, title, start, filters);
  dialog.setFileMode(QFileDialog::AnyFile);
  dialog.setAcceptMode(QFileDialog::AcceptSave);
  return runDialog(dialog, selected_filter);
}

QString chooseDirectory(QWidget* parent, const QString& title, const QString& dir) {
  QFileDialog dialog(parent, title, dir);
  dialog.setFileMode(QFileDialog::Directory);
  dialog.setOption(QFileDialog::ShowDirsOnly);
  return runDialog(dialog, nullptr);
}

}  // namespace attnbench::ui
