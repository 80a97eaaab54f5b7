// Bounded fuzzing of the real entry points, so that the next crash is found by the test suite: random
// and mutated command lines, mutated spec files and damaged databases go through the attnbench
// executable. Every case must end with exit 0, 1 or 2 (130 when it ran past its time limit and was sent
// SIGTERM), never with a signal; a case that exits 2 must leave the database byte-identical; an intact
// database must still pass PRAGMA integrity_check afterwards.
//
// ATTNBENCH_FUZZ_SECONDS (default 35) bounds each test's time, ATTNBENCH_FUZZ_SEED (default 1) picks
// the cases: a failure prints the seed and case number, and the case's files stay in the test's temp
// directory (fuzz_*/case-N) to reproduce it.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "child_process.h"
#include "test_support.h"

namespace attnbench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::uint64_t envNumber(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// PRAGMA integrity_check through a read-only connection: "ok" for a sound file.
std::string integrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return "cannot open";
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* st = nullptr;
  std::string verdict = "no answer";
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(st, 0);
    verdict = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return verdict;
}

// Printable form of an argument list for failure messages (control and non-ASCII bytes escaped).
std::string describeArgs(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    out += " '";
    for (unsigned char c : a.substr(0, 80)) {
      if (c >= 0x20 && c < 0x7f && c != '\'') {
        out += static_cast<char>(c);
      } else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", c);
        out += hex;
      }
    }
    if (a.size() > 80) out += "...(" + std::to_string(a.size()) + " bytes)";
    out += "'";
  }
  return out;
}

class Fuzz : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = envNumber("ATTNBENCH_FUZZ_SEED", 1);
    budget_ = std::chrono::seconds(envNumber("ATTNBENCH_FUZZ_SECONDS", 35));
    dir_ = testing::freshDir(std::string("fuzz_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    // The golden database: one small completed CPU run.
    golden_db_ = dir_ + "/golden.db";
    const auto made = run({"--batch", "--no-progress", "--device", "cpu", "--heads", "2", "--head-dim", "64", "--dtype",
                           "fp32", "--seq-lens", "16,32", "--causal", "both", "--db", golden_db_},
                          dir_, std::chrono::seconds(120));
    ASSERT_TRUE(made.exited() && made.exit_code == 0) << "could not make the golden database";
    golden_bytes_ = testing::readWholeFile(golden_db_);
    ASSERT_EQ(integrityCheck(golden_db_), "ok");
  }

  testing::ChildOutcome run(const std::vector<std::string>& args, const std::string& case_dir,
                            std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    testing::ChildOptions options;
    options.stdout_path = case_dir + "/stdout";
    options.stderr_path = case_dir + "/stderr";
    options.time_limit = limit;
    // Never the user's default database; no display, so a stray GUI request must be refused, not hang.
    options.env = {{"XDG_DATA_HOME", case_dir},
                   {"HOME", case_dir},
                   {"DISPLAY", std::nullopt},
                   {"WAYLAND_DISPLAY", std::nullopt},
                   {"QT_QPA_PLATFORM", std::nullopt}};
    return testing::runChild(ATTNBENCH_EXE, args, options);
  }

  bool timeLeft() const { return Clock::now() - started_ < budget_ && failures_ < 5; }

  // A new directory for case `n`, with a copy of `db_bytes` as db.db.
  std::string newCase(int n, const std::string& db_bytes) {
    const std::string case_dir = dir_ + "/case-" + std::to_string(n);
    fs::create_directories(case_dir);
    writeFile(case_dir + "/db.db", db_bytes);
    return case_dir;
  }

  // Checks the rules every case must keep; `intact_db`: the case started from the golden database.
  void checkCase(int n, const std::vector<std::string>& args, const testing::ChildOutcome& outcome,
                 const std::string& case_dir, const std::string& db_before, bool intact_db) {
    const std::string where = "seed " + std::to_string(seed_) + " case " + std::to_string(n) + " (" + case_dir +
                              "): attnbench" + describeArgs(args) + "\n  stderr: " +
                              testing::readWholeFile(case_dir + "/stderr").substr(0, 400);
    std::string broken;  // the first rule the case broke
    if (!outcome.exited()) {
      broken = "ended by signal " + std::to_string(outcome.signal) + (outcome.killed ? " (hung: killed)" : "");
    } else {
      const int code = outcome.exit_code;
      if (!(code == 0 || code == 1 || code == 2 || (code == 130 && outcome.terminated))) {
        broken = "exit code " + std::to_string(code);
      } else if (code == 2 && testing::readWholeFile(case_dir + "/db.db") != db_before) {
        broken = "exit 2 changed the database";
      }
    }
    if (broken.empty() && intact_db && fs::exists(case_dir + "/db.db")) {
      const std::string verdict = integrityCheck(case_dir + "/db.db");
      if (verdict != "ok") broken = "integrity_check: " + verdict;
    }
    if (!broken.empty()) {
      ADD_FAILURE() << broken << "\n  " << where;
      ++failures_;
    }
    ++cases_;
  }

  void TearDown() override {
    std::printf("[fuzz] %d cases in %.1f s (seed %llu)\n", cases_,
                std::chrono::duration<double>(Clock::now() - started_).count(), static_cast<unsigned long long>(seed_));
  }

  std::uint64_t seed_ = 1;
  std::chrono::seconds budget_{35};
  std::string dir_, golden_db_, golden_bytes_;
  Clock::time_point started_ = Clock::now();
  int failures_ = 0, cases_ = 0;
};

template <typename T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& items) {
  return items[std::uniform_int_distribution<std::size_t>(0, items.size() - 1)(rng)];
}

bool chance(std::mt19937_64& rng, double p) { return std::bernoulli_distribution(p)(rng); }

// Words a command line is made of: verbs, options (current and plausible), and values chosen to hit
// bounds, types, encodings and paths that matter (the database itself, a full device, a missing dir).
const std::vector<std::string> kVerbs = {"models", "presets", "devices", "runs", "show", "export", "compare",
                                         "rename", "annotate", "delete", "merge", "rnus", "help"};
const std::vector<std::string> kOptions = {
    "--db", "--batch", "--events", "--no-progress", "--resume", "--export-charts", "--csv", "--json", "--charts",
    "--points", "--spec", "--preset", "--name", "-m", "--model", "--models", "--architecture", "--variant", "--heads",
    "--kv-heads", "--head-dim", "--custom-name", "--seq-lens", "--seq_lens", "--batch-sizes", "--batch_sizes",
    "--dtype", "--causal", "--kernels", "--use_flash", "--tiles", "--repetitions", "--warmup", "--check_correctness",
    "--no-check", "--device", "--max-memory", "--seed", "--l2-flush", "--cuda-graph", "--threads", "--help",
    "--version", "--workload", "--q-lens", "--page-size", "--kv-lens-spread", "--splits", "--style", "--size", "--dpi",
    "--theme", "--rank", "--world-size", "--sweep-id", "--new-tokens", "--depth", "--compile_mode", "--ckpt_dir",
    "--tokenizer", "--prompt", "-x", "--", "-"};
const std::vector<std::string> kValues = {
    "", "0", "1", "2", "3", "-1", "16", "32", "64", "999", "65536", "2147483648", "99999999999999999999", "1e309",
    "nan", "-0", "0x10", "16..64", "64..16", "16,16", ",", "16,,32", "fp16", "bf16", "fp32", "fp8", "true", "false",
    "both", "flash", "standard", "cudnn", "auto", "64x64", "7x7", "cpu", "cuda", "cuda:7", "1KiB", "8GiB", "0.5",
    "decode", "inference", "paper", "3.3x2.2in", "dark", "reduce-overhead",
    "llama-2-7b", "llama/7b", "mistral-7b", "jsonl", "cpu-quick", "seed-matrix", "\xff\xfe", "a\nb", "\x1b[31mred",
    "=HYPERLINK(\"x\")", std::string(5000, 'n'), "@DB@", "@DB@-wal", "@DIR@", "/dev/full", "-", "@DIR@/out.csv",
    "@DIR@/no/such/dir/x", ":memory:", "@DIR@/spec.json", "1", "1", "2"};

// Keeps a sweep small enough that the fuzz budget goes to many cases, not to one long CPU sweep.
const std::vector<std::string> kBoundedSweep = {"--device", "cpu", "--heads", "2", "--head-dim", "64", "--seq-lens",
                                                "16", "--dtype", "fp32", "--repetitions", "1", "--warmup", "0"};

std::vector<std::string> substitute(std::vector<std::string> args, const std::string& case_dir) {
  for (auto& a : args) {
    for (const auto& [token, value] : {std::pair<std::string, std::string>{"@DB@", case_dir + "/db.db"},
                                       std::pair<std::string, std::string>{"@DIR@", case_dir}}) {
      for (auto at = a.find(token); at != std::string::npos; at = a.find(token)) a.replace(at, token.size(), value);
    }
  }
  return args;
}

TEST_F(Fuzz, CommandLines) {
  std::mt19937_64 rng(seed_ * 0x9e3779b97f4a7c15ULL + 1);
  for (int n = 0; timeLeft(); ++n) {
    std::vector<std::string> words;
    if (chance(rng, 0.5)) words.push_back(pick(rng, kVerbs));
    const int count = std::uniform_int_distribution<int>(0, 6)(rng);
    for (int i = 0; i < count; ++i) {
      const double r = std::uniform_real_distribution<double>(0, 1)(rng);
      words.push_back(r < 0.4 ? pick(rng, kOptions) : r < 0.9 ? pick(rng, kValues) : pick(rng, kVerbs));
    }
    if (chance(rng, 0.6)) words.insert(words.begin() + static_cast<long>(words.size() / 2), "--batch");
    if (chance(rng, 0.7)) words.insert(words.end(), kBoundedSweep.begin(), kBoundedSweep.end());
    if (chance(rng, 0.9)) {
      words.push_back("--db");
      words.push_back("@DB@");
    }
    const std::string case_dir = newCase(n, golden_bytes_);
    writeFile(case_dir + "/spec.json", R"({"models": ["llama-2-7b"], "seq_lens": [16], "device": "cpu"})");
    const auto args = substitute(words, case_dir);
    checkCase(n, args, run(args, case_dir), case_dir, golden_bytes_, true);
  }
}

// Mutations of a valid spec: values of other types and sizes, keys removed or unknown, deep nesting,
// truncation and bytes that are not UTF-8.
std::string mutateSpec(std::mt19937_64& rng) {
  const std::vector<std::string> keys = {"name", "models", "seq_lens", "batch_sizes", "dtypes", "causal",
                                         "kernels", "tiles", "repetitions", "warmup", "check_correctness", "device",
                                         "max_memory", "seed", "l2_flush", "cuda_graph", "threads"};
  const std::vector<std::string> values = {
      "null", "true", "0", "-1", "1", "2147483648", "1e308", "-1e308", "0.5", "\"\"", "\"x\"", "[]", "{}", "[0]",
      "[-16]", "[16,16]", "[1e10]", "[\"16\"]", "[[16]]", "{\"heads\": 0}",
      R"([{"name": "c", "heads": 2147483647, "kv_heads": 1, "head_dim": 64}])",
      R"([{"name": "c", "display_name": 5, "heads": 2, "kv_heads": 2, "head_dim": 64}])", "\"\xff\xfe\"",
      "\"a\\u0000b\"", "\"llama-2-7b\"", "[\"llama-2-7b\", \"llama-2-7b\"]", "18446744073709551615"};
  std::string spec = R"({"name": "fuzz", "models": ["llama-2-7b"], "seq_lens": [16, 32], "batch_sizes": [1],)"
                     R"( "dtypes": ["fp32"], "causal": [false], "kernels": ["flash", "standard"], "repetitions": 1,)"
                     R"( "warmup": 0, "device": "cpu")";
  const int edits = std::uniform_int_distribution<int>(1, 4)(rng);
  for (int i = 0; i < edits; ++i) spec += ", \"" + pick(rng, keys) + "\": " + pick(rng, values);
  if (chance(rng, 0.1)) {
    const int depth = std::uniform_int_distribution<int>(100, 100000)(rng);
    spec += ", \"" + pick(rng, keys) + "\": " + std::string(static_cast<std::size_t>(depth), '[') +
            std::string(static_cast<std::size_t>(depth), ']');
  }
  spec += "}";
  if (chance(rng, 0.15)) spec.resize(std::uniform_int_distribution<std::size_t>(0, spec.size())(rng));
  if (chance(rng, 0.15)) {
    spec[std::uniform_int_distribution<std::size_t>(0, spec.size() - 1)(rng)] =
        static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
  }
  return spec;
}

TEST_F(Fuzz, SpecFiles) {
  std::mt19937_64 rng(seed_ * 0x9e3779b97f4a7c15ULL + 2);
  for (int n = 0; timeLeft(); ++n) {
    const std::string case_dir = newCase(n, golden_bytes_);
    writeFile(case_dir + "/spec.json", mutateSpec(rng));
    // The flags bound the work a valid mutation may ask for; the spec's own values are still parsed.
    const std::vector<std::string> args = {"--batch", "--no-progress", "--spec", case_dir + "/spec.json",
                                           "--max-memory", "32MiB", "--db", case_dir + "/db.db"};
    checkCase(n, args, run(args, case_dir), case_dir, golden_bytes_, true);
  }
}

// A damaged copy of `bytes`: truncated, pages overwritten with noise, the header cleared or bytes flipped.
std::string damage(std::mt19937_64& rng, std::string bytes) {
  constexpr std::size_t kPage = 4096;
  const std::size_t pages = std::max<std::size_t>(1, bytes.size() / kPage);
  switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
    case 0:
      bytes.resize(std::uniform_int_distribution<std::size_t>(0, bytes.size())(rng));
      break;
    case 1: {
      const int count = std::uniform_int_distribution<int>(1, 3)(rng);
      for (int i = 0; i < count; ++i) {
        const std::size_t page = std::uniform_int_distribution<std::size_t>(0, pages - 1)(rng);
        for (std::size_t b = page * kPage; b < std::min(bytes.size(), (page + 1) * kPage); ++b) {
          bytes[b] = static_cast<char>(rng() & 0xff);
        }
      }
      break;
    }
    case 2:
      std::fill(bytes.begin(), bytes.begin() + static_cast<long>(std::min<std::size_t>(100, bytes.size())), '\0');
      break;
    default: {
      const int flips = std::uniform_int_distribution<int>(1, 64)(rng);
      for (int i = 0; i < flips && !bytes.empty(); ++i) {
        bytes[std::uniform_int_distribution<std::size_t>(0, bytes.size() - 1)(rng)] ^=
            static_cast<char>(1 << (rng() % 8));
      }
    }
  }
  return bytes;
}

TEST_F(Fuzz, DamagedDatabases) {
  std::mt19937_64 rng(seed_ * 0x9e3779b97f4a7c15ULL + 3);
  const std::vector<std::vector<std::string>> verbs = {
      {"runs"}, {"show", "1"}, {"show", "1", "--points"}, {"export", "1", "--json", "@DIR@/out.json"},
      {"export", "1", "--csv", "@DIR@/out.csv"}, {"compare", "1", "1"}, {"annotate", "1", "note"},
      {"rename", "1", "renamed"}, {"delete", "1"}, {"--batch", "--resume", "1"},
      {"--batch", "--no-progress", "--device", "cpu", "--heads", "2", "--head-dim", "64", "--seq-lens", "16"}};
  for (int n = 0; timeLeft(); ++n) {
    const std::string damaged = damage(rng, golden_bytes_);
    const std::string case_dir = newCase(n, damaged);
    auto args = pick(rng, verbs);
    args.push_back("--db");
    args.push_back("@DB@");
    args = substitute(args, case_dir);
    checkCase(n, args, run(args, case_dir), case_dir, damaged, false);
  }
}

}  // namespace
}  // namespace attnbench
