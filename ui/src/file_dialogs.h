// Every file dialog the window opens. They are Qt's own dialogs (never the platform's, which may run
// a toolkit inside this process that reads files to guess their type) and they type files by their
// suffix alone: listing a folder never opens a file in it. Opening and closing the results database
// would drop the SQLite locks of any connection this process had on it (see database.h).
#pragma once

#include <QString>

class QFileDialog;
class QWidget;

namespace attnbench::ui {

QString chooseOpenFile(QWidget* parent, const QString& title, const QString& dir, const QString& filters);
// `selected_filter`, when given, receives the filter the user left selected.
QString chooseSaveFile(QWidget* parent, const QString& title, const QString& start, const QString& filters,
                       QString* selected_filter = nullptr);
QString chooseDirectory(QWidget* parent, const QString& title, const QString& dir);

// Makes `dialog` list files the way the functions above do (non-native, typed by suffix).
void listFilesBySuffixOnly(QFileDialog& dialog);

}  // namespace attnbench::ui
