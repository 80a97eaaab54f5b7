// The real `attnbench` executable draws a run's charts without a display: after a batch run
// (--export-charts) and from a stored run (export RUN --charts).
#include <gtest/gtest.h>

#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>

#include "chart_export.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

struct Result {
  int exit_code = -1;
  QString output;
};

Result runAttnbench(const QStringList& args) {
  QProcess process;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
  process.setProcessEnvironment(env);
  process.setProcessChannelMode(QProcess::MergedChannels);
  process.start(QStringLiteral(ATTNBENCH_EXE), args);
  if (!process.waitForFinished(120000)) return {-1, QStringLiteral("timed out")};
  return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1, QString::fromUtf8(process.readAll())};
}

TEST(CliExport, BatchRunExportsItsChartsAndExportRedrawsThem) {
  test::ensureApp();  // QImage / QSvgRenderer for the checks
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("r.db"));
  const QString charts = dir.filePath(QStringLiteral("charts"));
  const Result batch = runAttnbench({QStringLiteral("--batch"), QStringLiteral("--device"), QStringLiteral("cpu"),
                                     QStringLiteral("--heads"), QStringLiteral("4"), QStringLiteral("--head-dim"),
                                     QStringLiteral("64"), QStringLiteral("--seq-lens"), QStringLiteral("32..128"),
                                     QStringLiteral("--dtype"), QStringLiteral("fp32"), QStringLiteral("--no-progress"),
                                     QStringLiteral("--db"), db, QStringLiteral("--export-charts"), charts});
  ASSERT_EQ(batch.exit_code, 0) << batch.output.toStdString();
  test::expectChartFiles(charts, kDefaultChartSize);

  const QString again = dir.filePath(QStringLiteral("again"));
  const Result exported = runAttnbench({QStringLiteral("export"), QStringLiteral("1"), QStringLiteral("--charts"), again,
                                        QStringLiteral("--db"), db});
  ASSERT_EQ(exported.exit_code, 0) << exported.output.toStdString();
  test::expectChartFiles(again, kDefaultChartSize);

  const Result missing = runAttnbench({QStringLiteral("export"), QStringLiteral("7"), QStringLiteral("--charts"), again,
                                       QStringLiteral("--db"), db});
  EXPECT_EQ(missing.exit_code, 2) << missing.output.toStdString();  // bad input: no run 7
}

}  // namespace
}  // namespace attnbench::ui
