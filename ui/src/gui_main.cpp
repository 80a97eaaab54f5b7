#include "attnbench/ui/gui_main.h"

#include <cstdio>
#include <memory>

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include "chart_export.h"
#include "main_window.h"

// The icon and other resources live in this static library: register them explicitly.
static void initResources() { Q_INIT_RESOURCE(attnbench); }

namespace attnbench::ui {

int runGui(int argc, char** argv) {
  QApplication app(argc, argv);
  initResources();
  QApplication::setApplicationName(QStringLiteral("attnbench"));
  QApplication::setOrganizationName(QStringLiteral("attnbench"));
  QApplication::setApplicationVersion(QStringLiteral(ATTNBENCH_VERSION));
  QApplication::setDesktopFileName(QStringLiteral("attnbench"));
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/attnbench.svg")));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Fused vs standard attention benchmark"));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption db({QStringLiteral("db")}, QStringLiteral("Open this results database."), QStringLiteral("FILE"));
  parser.addOption(db);
  parser.addPositionalArgument(QStringLiteral("database"), QStringLiteral("Results database to open (same as --db)."),
                               QStringLiteral("[database]"));
  parser.process(app);

  MainWindowOptions options;
  options.db_path = parser.value(db);
  if (options.db_path.isEmpty() && !parser.positionalArguments().isEmpty()) {
    options.db_path = parser.positionalArguments().constFirst();
  }
  MainWindow window(options);
  window.resize(1500, 950);
  window.show();
  return QApplication::exec();
}

namespace {

// The style `request` names, with its overrides; false with the reason.
bool requestedStyle(const FigureRequest& request, FigureStyle* style, QString* error) {
  if (!namedFigureStyle(request.style.isEmpty() ? QStringLiteral("screen") : request.style, style, error)) return false;
  if (!request.size.isEmpty() && !parseFigureSize(request.size, &style->size_inches, error)) return false;
  if (request.dpi != 0) {
    if (request.dpi < kMinFigureDpi || request.dpi > kMaxFigureDpi) {
      *error = QStringLiteral("DPI %1: use %2 to %3").arg(request.dpi).arg(kMinFigureDpi).arg(kMaxFigureDpi);
      return false;
    }
    style->png_dpi = request.dpi;
  }
  style->dark = request.dark;
  return true;
}

}  // namespace

QString checkFigureRequest(const FigureRequest& request) {
  FigureStyle style;
  QString error;
  return requestedStyle(request, &style, &error) ? QString() : error;
}

QString exportRunCharts(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir,
                        const FigureRequest& request) {
  // Charts are graphics widgets: they need a QApplication, on the offscreen platform when headless.
  std::unique_ptr<QApplication> own_app;
  static int argc = 1;
  static char name[] = "attnbench";
  static char* argv[] = {name, nullptr};
  if (QCoreApplication::instance() == nullptr) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    own_app = std::make_unique<QApplication>(argc, argv);
  } else if (qobject_cast<QApplication*>(QCoreApplication::instance()) == nullptr) {
    return QStringLiteral("exporting charts needs a QApplication, not a QCoreApplication");
  }
  QString error;
  const QList<ChartKind> kinds(kChartKinds.begin(), kChartKinds.end());
  if (request.isEmpty()) {
    if (!exportCharts(run, points, dir, kinds, kAllImageFormats, kDefaultChartSize, nullptr, nullptr, &error)) return error;
    return {};
  }
  FigureStyle style;
  if (!requestedStyle(request, &style, &error)) return error;
  if (!exportFigures(run, points, dir, kinds, kAllImageFormats, style, nullptr, nullptr, &error)) return error;
  return {};
}

}  // namespace attnbench::ui
