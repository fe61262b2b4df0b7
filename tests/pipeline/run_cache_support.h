#pragma once
// Shared by the `dsx run` cache tests (run_cache_tests.cpp: corruption, hit/miss per parameter, seed
// extension; run_process_tests.cpp: SIGKILL and resume, concurrent runs, forced teachers): a spec written into
// a scratch directory (teacher → train_amed → evaluate ×2 → report), running the real binary, and reading
// back what must be identical bit for bit — teacher trajectories seed by seed, the predictor's parameters,
// every metric value of the evaluate entries (rows.json, full double precision) and the published
// metrics.csv (wall-clock rows left out).
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "amed/predictor.h"
#include "models/gaussian_mixture.h"
#include "store/cache.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/scratch.h"

namespace dsx::test::run_cache {

namespace fs = std::filesystem;
using nlohmann::json;

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string quote(const std::string& s) {  // for the shell run_dsx goes through
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---- the spec ----

inline const std::string kSmallModel = std::string(DSX_SOURCE_DIR) + "/data/gmm/mix8_3x8x8.h5";

// 4096 components: a 50-seed Heun batch on the 4-point grid takes ~0.3 s, slow enough to kill mid-run.
inline std::string slow_model(const TempDir& dir) {
  const std::string path = dir.file("gmm4096.h5");
  if (!fs::exists(path)) GaussianMixture::random(4096, {3, 8, 8}, 11)->save_h5(path);
  return path;
}

struct SpecText {
  std::string model = kSmallModel;
  std::string teacher_seeds = "0-39";
  int64_t batch = 20;
  std::string eval_seeds = "5000-5007";
  int64_t max_samples = 0;  // train_amed: 0 = every teacher trajectory
  // rmse_to_reference integrates the exact ODE (minutes on the slow mixture); log_likelihood needs none.
  std::string metrics = "rmse_to_reference";
};

// The slow mixture, with a short training and a metric without the ODE reference: the teacher dominates.
inline SpecText slow_spec(const TempDir& dir, const std::string& seeds) {
  SpecText s;
  s.model = slow_model(dir);
  s.teacher_seeds = seeds;
  s.batch = 50;
  s.max_samples = 40;  // the first 40 seeds, whichever run wrote them
  s.metrics = "log_likelihood";
  return s;
}

// teacher → amed (train_amed) → eval_amed (evaluate, the predictor) ┐
//                                 eval (evaluate, euler + ipndm)    ┴→ report
inline std::string write_spec(const TempDir& dir, const SpecText& s, const std::string& name = "spec.yaml") {
  std::ofstream(dir.file(name)) << "name: cache_test\n"
                                << "model: {kind: gaussian_mixture, file: " << s.model << "}\n"
                                << "precision: float32\n"
                                << "stages:\n"
                                << "  teacher:\n"
                                << "    kind: teacher\n"
                                << "    schedule: {kind: polynomial, num_steps: 4, rho: 7}\n"
                                << "    solver: {name: heun}\n"
                                << "    m: 1\n"
                                << "    seeds: " << s.teacher_seeds << "\n"
                                << "    batch: " << s.batch << "\n"
                                << "  amed:\n"
                                << "    kind: train_amed\n"
                                << "    teacher: teacher\n"
                                << "    student: {name: ipndm, afs: true}\n"
                                << "    scale_dir: 0.01\n"
                                << "    max_samples: " << s.max_samples << "\n"
                                << "  eval_amed:\n"
                                << "    kind: evaluate\n"
                                << "    predictors: [amed]\n"
                                << "    seeds: " << s.eval_seeds << "\n"
                                << "    metrics: [" << s.metrics << "]\n"
                                << "  eval:\n"
                                << "    kind: evaluate\n"
                                << "    seeds: " << s.eval_seeds << "\n"
                                << "    metrics: [" << s.metrics << "]\n"
                                << "    schedule: {kind: polynomial, rho: 7}\n"
                                << "    methods: [{solver: {name: euler}}, {solver: {name: ipndm}}]\n"
                                << "    nfe: [3, 5]\n"
                                << "  report:\n"
                                << "    kind: report\n"
                                << "    inputs: [eval, eval_amed]\n"
                                << "    title: cache test\n"
                                << "    nfe: [3, 5]\n";
  return dir.file(name);
}

inline const std::vector<std::string> kLabels = {"teacher", "amed", "eval_amed", "eval", "report"};

// ---- running dsx ----

struct Outcome {
  int code = -1;
  std::string out;
  fs::path run_dir;
  json summary;                               // run_dir/summary.json
  std::map<std::string, std::string> status;  // label → HIT | RUN | FAILED | CANCELLED (summary.json)
  std::map<std::string, std::string> key;     // label → full cache key
  std::map<std::string, std::string> logged;  // label → DONE | HIT (the run's own "DONE x [" / "HIT x [" line)
};

inline Outcome parse_outcome(int code, std::string out) {
  Outcome o;
  o.code = code;
  o.out = std::move(out);
  std::smatch m;
  if (std::regex_search(o.out, m, std::regex("run directory: (\\S+)"))) o.run_dir = m[1].str();
  if (!o.run_dir.empty() && fs::exists(o.run_dir / "summary.json")) {
    o.summary = json::parse(read_text(o.run_dir / "summary.json"));
    for (const auto& s : o.summary["stages"]) {
      o.status[s["label"]] = s["status"];
      o.key[s["label"]] = s["key"];
    }
  }
  std::istringstream lines(o.out);
  const std::regex done("^(DONE|HIT) (\\S+) \\[[0-9a-f]{12}\\]");
  for (std::string line; std::getline(lines, line);)
    if (std::regex_search(line, m, done)) {
      BOOST_TEST(!o.logged.count(m[2].str()), "stage " << m[2] << " finished twice in one run");
      o.logged[m[2]] = m[1];
    }
  return o;
}

// `dsx run SPEC --cache-dir C --runs-dir R EXTRA` in the foreground.
inline Outcome run_spec(const std::string& spec, const std::string& cache, const std::string& runs,
                        const std::string& extra = "") {
  Run r = run_dsx("run " + quote(spec) + " --cache-dir " + quote(cache) + " --runs-dir " + quote(runs) + " " + extra);
  return parse_outcome(r.code, r.out);
}

struct DryLine {
  std::string state, reason;
};

// `--dry-run`: label → {HIT | EXTEND | RUN, reason}.
inline std::map<std::string, DryLine> dry_run(const std::string& spec, const std::string& cache,
                                              const std::string& extra = "") {
  Run r = run_dsx("run " + quote(spec) + " --cache-dir " + quote(cache) + " --dry-run " + extra);
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  std::map<std::string, DryLine> out;
  std::istringstream lines(r.out);
  const std::regex line_re("^(HIT|EXTEND|RUN)\\s+(\\S+)\\s+(\\S+)\\s+([0-9a-f]{12})  (.*)$");
  std::smatch m;
  for (std::string line; std::getline(lines, line);)
    if (std::regex_match(line, m, line_re)) out[m[2]] = {m[1], m[5]};
  BOOST_REQUIRE_EQUAL(out.size(), kLabels.size());
  return out;
}

inline std::vector<std::string> run_args(const std::string& spec, const std::string& cache, const std::string& runs,
                                         const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"run", spec, "--cache-dir", cache, "--runs-dir", runs};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The teacher stage's "N seeds cached, M computed" line.
inline std::pair<int64_t, int64_t> teacher_counts(const std::string& out) {
  std::smatch m;
  BOOST_REQUIRE_MESSAGE(std::regex_search(out, m, std::regex("teacher: (\\d+) seeds cached, (\\d+) computed")),
                        "no teacher count line in:\n"
                            << out);
  return {std::stoll(m[1]), std::stoll(m[2])};
}

// ---- artifacts ----

inline std::vector<fs::path> shard_files(const fs::path& cache) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(cache / "teacher", ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(cache / "teacher", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("shard-", 0) == 0 && name.find(".tmp.") == std::string::npos) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct TeacherRow {
  at::Tensor states, features;
};

// Every trajectory of the teacher entry `key`, by seed, from the shards its meta.json lists.
inline std::map<int64_t, TeacherRow> teacher_rows(const fs::path& cache, const std::string& key) {
  const fs::path dir = cache / "teacher" / key;
  json meta = json::parse(read_text(dir / "meta.json"));
  BOOST_REQUIRE(meta.value("complete", false));
  std::map<int64_t, TeacherRow> rows;
  int64_t duplicates = 0;
  for (const auto& s : meta["shards"]) {
    h5::File f = h5::File::open((dir / s["file"]["name"].get<std::string>()).string());
    std::vector<int64_t> seeds = f.read_int64("seeds");
    at::Tensor states = h5::read_tensor(f, "states", at::kFloat);
    at::Tensor features = f.has("features") ? h5::read_tensor(f, "features", at::kFloat) : at::Tensor();
    BOOST_REQUIRE_EQUAL(states.size(0), int64_t(seeds.size()));
    for (size_t i = 0; i < seeds.size(); ++i) {
      duplicates += int64_t(rows.count(seeds[i]));
      rows[seeds[i]] = {states[int64_t(i)].clone(), features.defined() ? features[int64_t(i)].clone() : at::Tensor()};
    }
  }
  BOOST_TEST(duplicates == 0, duplicates << " seeds in two shards of " << dir.string());
  return rows;
}

// Same seeds, bit-identical states and features.
inline void check_same_teacher(const std::map<int64_t, TeacherRow>& a, const std::map<int64_t, TeacherRow>& b,
                               size_t expected_seeds) {
  BOOST_TEST(a.size() == expected_seeds);
  BOOST_TEST(b.size() == expected_seeds);
  int64_t differ = 0;
  for (const auto& [seed, row] : a) {
    auto it = b.find(seed);
    if (it == b.end() || !at::equal(row.states, it->second.states) ||
        row.features.defined() != it->second.features.defined() ||
        (row.features.defined() && !at::equal(row.features, it->second.features)))
      ++differ;
  }
  BOOST_TEST(differ == 0, differ << " seeds with other trajectories");
}

// rows.json of an evaluate entry without the wall-clock rows: every metric value, full double precision.
inline std::string eval_values(const fs::path& cache, const std::string& key) {
  json rows = json::parse(read_text(cache / "evaluate" / key / "rows.json"));
  json out = json::array();
  for (const auto& r : rows)
    if (r["metric"] != "wall_seconds") out.push_back(r);
  BOOST_TEST(!out.empty());
  return out.dump();
}

// metrics.csv of a run directory without the wall-clock rows (they are timings, not results).
inline std::string metric_values(const fs::path& run_dir) {
  std::istringstream in(read_text(run_dir / "metrics.csv"));
  std::string out;
  int rows = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(",wall_seconds,") != std::string::npos) continue;
    out += line + "\n";
    ++rows;
  }
  BOOST_TEST(rows > 1, "metrics.csv has no metric rows");
  return out;
}

inline std::vector<at::Tensor> predictor_params(const fs::path& cache, const std::string& key) {
  LoadedPredictor p = load_predictor((cache / "train_amed" / key / "predictor.h5").string());
  std::vector<at::Tensor> out;
  for (const auto& t : p.net->parameters()) out.push_back(t.detach().clone());
  return out;
}

inline bool same_tensors(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size() || a.empty()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!at::equal(a[i], b[i])) return false;
  return true;
}

// The results of a run that must not depend on how the cache got there.
struct Results {
  std::map<int64_t, TeacherRow> teacher;
  std::string eval, eval_amed, metrics;
};

inline Results results_of(const Outcome& o, const fs::path& cache) {
  BOOST_REQUIRE_EQUAL(o.code, 0);
  return {teacher_rows(cache, o.key.at("teacher")), eval_values(cache, o.key.at("eval")),
          eval_values(cache, o.key.at("eval_amed")), metric_values(o.run_dir)};
}

inline void check_same_results(const Results& a, const Results& b, size_t seeds) {
  check_same_teacher(a.teacher, b.teacher, seeds);
  BOOST_TEST(a.eval == b.eval);
  BOOST_TEST(a.eval_amed == b.eval_amed);
  BOOST_TEST(a.metrics == b.metrics);
}

}  // namespace dsx::test::run_cache
