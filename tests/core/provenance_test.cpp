#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <sstream>

#include "attnbench/device_info.h"
#include "attnbench/exporters.h"
#include "attnbench/provenance.h"
#include "nvml.h"

namespace attnbench {
namespace {

TEST(Provenance, KeepsTheOrderOfCollectionAndReplacesInPlace) {
  Provenance p{{"b.first", "1"}, {"a.second", "2"}};
  p.set("c.third", "3");
  p.set("b.first", "one");
  p.merge({{"a.second", "two"}, {"d.fourth", "4"}});
  const std::vector<ProvenanceEntry> expected = {{"b.first", "one"}, {"a.second", "two"}, {"c.third", "3"}, {"d.fourth", "4"}};
  EXPECT_EQ(p.entries(), expected);
  EXPECT_EQ(p.value("a.second"), "two");
  EXPECT_EQ(p.value("absent"), "");
  EXPECT_TRUE(p.contains("d.fourth"));
  EXPECT_FALSE(p.contains("absent"));
}

TEST(Provenance, TextRoundTripKeepsOrderAndOddValues) {
  const Provenance p{{"z.last_alphabetically", "first"}, {"a.quote", "say \"hi\"\nand go"}, {"m.utf8", "Grüße"}};
  const std::string text = serializeProvenance(p);
  EXPECT_LT(text.find("z.last_alphabetically"), text.find("a.quote"));  // not sorted
  EXPECT_EQ(parseProvenance(text), p);
  // The JSON form holds the same pairs.
  const nlohmann::json j = provenanceToJson(p);
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j["a.quote"], "say \"hi\"\nand go");
}

TEST(Provenance, ParsingIsLenientWithWhatOldOrForeignFilesHold) {
  EXPECT_TRUE(parseProvenance("").empty());
  EXPECT_TRUE(parseProvenance("{}").empty());
  EXPECT_TRUE(parseProvenance("not json").empty());
  EXPECT_TRUE(parseProvenance("[1, 2]").empty());
  const Provenance p = parseProvenance(R"({"n": 3, "s": "x", "o": {"k": true}})");
  EXPECT_EQ(p.value("n"), "3");
  EXPECT_EQ(p.value("s"), "x");
  EXPECT_EQ(p.value("o"), R"({"k":true})");
}

TEST(Provenance, BuildAndHostDescribeThisProgramAndMachine) {
  const Provenance build = buildProvenance();
  ASSERT_FALSE(build.entries().empty());
  EXPECT_EQ(build.entries().front().key, "attnbench.version");
  for (const char* key : {"attnbench.version", "attnbench.commit", "build.type", "build.compiler"}) {
    EXPECT_FALSE(build.value(key).empty()) << key;
  }
#ifdef ATTNBENCH_HAVE_CUDA
  EXPECT_EQ(build.value("build.cuda_compiler").rfind("nvcc ", 0), 0u) << build.value("build.cuda_compiler");
#else
  EXPECT_FALSE(build.contains("build.cuda_compiler"));
#endif
  const Provenance host = hostProvenance();
  EXPECT_EQ(host.value("host.name"), hostName());
  EXPECT_EQ(host.value("host.cpu"), hostCpuModel().empty() ? "unknown" : hostCpuModel());
  struct utsname u {};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(host.value("host.os"), std::string(u.sysname) + " " + u.release + " " + u.machine);
}

TEST(Provenance, TimingComesFromTheSpec) {
  SweepSpec spec = sweepPreset("cpu-quick");
  spec.warmup = 7;
  spec.repetitions = 11;
  spec.l2_flush = true;
  spec.cuda_graph = false;
  spec.timing = TimingMethod::Batch;
  Provenance t = timingProvenance(spec);
  EXPECT_EQ(t.value("timing.method"), "batch");
  EXPECT_EQ(t.value("timing.warmup"), "7");
  EXPECT_EQ(t.value("timing.repetitions"), "11");
  EXPECT_EQ(t.value("timing.l2_flush"), "yes");
  EXPECT_EQ(t.value("timing.cuda_graph"), "no");
  EXPECT_FALSE(t.contains("timing.max_noise_percent"));  // a fixed count: the stopping rule does not apply
  spec.cuda_graph = true;
  spec.timing = TimingMethod::Plain;
  spec.repetitions = 0;
  spec.sampling = {0.25, 12, 0.5, 7.5};
  t = timingProvenance(spec);
  EXPECT_EQ(t.value("timing.cuda_graph"), "yes");
  EXPECT_EQ(t.value("timing.method"), "plain");
  EXPECT_EQ(t.value("timing.repetitions"), "until the noise rule");
  EXPECT_EQ(t.value("timing.max_noise_percent"), "0.25");
  EXPECT_EQ(t.value("timing.min_samples"), "12");
  EXPECT_EQ(t.value("timing.min_time_s"), "0.5");
  EXPECT_EQ(t.value("timing.timeout_s"), "7.5");
}

TEST(Provenance, AResumeRecordsOnlyWhatChanged) {
  const Provenance recorded{{"host.name", "a"}, {"gpu.driver", "580.1"}, {"timing.warmup", "1"}};
  const Provenance now{{"host.name", "b"}, {"gpu.driver", "580.1"}, {"timing.warmup", "1"}, {"cudnn.version", "9.19.1"}};
  const std::vector<ProvenanceEntry> expected = {{"resumed.host.name", "b"}, {"resumed.cudnn.version", "9.19.1"}};
  EXPECT_EQ(resumeChanges(recorded, now).entries(), expected);
  EXPECT_TRUE(resumeChanges(now, now).empty());
}

TEST(Provenance, CsvStartsWithItsCommentLines) {
  PointResult r;
  r.point = expandPoints(sweepPreset("cpu-quick")).front();
  r.status = PointStatus::Skipped;
  r.message = "why";
  std::ostringstream plain, with;
  writeCsv(plain, {r});
  writeCsv(with, {r}, Provenance{{"host.name", "box"}, {"odd", "two\nlines"}});
  EXPECT_EQ(with.str(), "# host.name: box\n# odd: two\\nlines\n" + plain.str());
  EXPECT_NE(plain.str().front(), '#');
}

// NVML is loaded at run time: without libnvidia-ml.so.1 every query answers empty, and a library
// that is there but is not NVML is refused for what it lacks.
TEST(Nvml, AnswersEmptyWhereItCannotLoad) {
  const std::string why = nvml::loadFailure("libnvidia-ml.so.1");
  if (why.empty()) {
    // A machine with NVML: a bus id that names no device still answers empty.
    EXPECT_FALSE(nvml::driverVersion().empty());
    EXPECT_FALSE(nvml::readSmClock("0000:ff:1f.7").has_value());
    EXPECT_FALSE(nvml::powerLimitWatts("0000:ff:1f.7").has_value());
    return;
  }
  EXPECT_FALSE(nvml::readSmClock("0000:01:00.0").has_value());
  EXPECT_FALSE(nvml::powerLimitWatts("0000:01:00.0").has_value());
  EXPECT_EQ(nvml::driverVersion(), "");
}

TEST(Nvml, ALibraryWithoutItsEntryPointsIsRefused) {
  EXPECT_EQ(nvml::loadFailure("libm.so.6"), "missing symbol nvmlInit_v2");
  const std::string absent = nvml::loadFailure("libattnbench-absent-nvml.so.1");
  EXPECT_NE(absent.find("libattnbench-absent-nvml.so.1"), std::string::npos) << absent;
}

}  // namespace
}  // namespace attnbench
