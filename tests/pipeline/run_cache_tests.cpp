// The artifact cache of `dsx run`, through the real binary and a spec written into a scratch directory
// (teacher → train_amed → evaluate ×2 → report): SIGKILL during teacher generation and resume, two
// concurrent runs of one spec, corrupted cache files, hit/miss/invalidation per parameter, extension by
// seed range and `--force teacher` racing another forced run. Results are compared bit for bit: the
// teacher trajectories seed by seed, the predictor's parameters, every metric value of the evaluate
// entries (rows.json, full double precision) and the published metrics.csv (wall-clock rows left out).
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

namespace dsx::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string quote(const std::string& s) {  // for the shell run_dsx goes through
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---- the spec ----

const std::string kSmallModel = std::string(DSX_SOURCE_DIR) + "/data/gmm/mix8_3x8x8.h5";

// 4096 components: a 50-seed Heun batch on the 4-point grid takes ~0.3 s, slow enough to kill mid-run.
std::string slow_model(const TempDir& dir) {
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
SpecText slow_spec(const TempDir& dir, const std::string& seeds) {
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
std::string write_spec(const TempDir& dir, const SpecText& s, const std::string& name = "spec.yaml") {
  std::ofstream(dir.file(name))
      << "name: cache_test\n"
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

const std::vector<std::string> kLabels = {"teacher", "amed", "eval_amed", "eval", "report"};

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

Outcome parse_outcome(int code, std::string out) {
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
Outcome run_spec(const std::string& spec, const std::string& cache, const std::string& runs,
                 const std::string& extra = "") {
  Run r = run_dsx("run " + quote(spec) + " --cache-dir " + quote(cache) + " --runs-dir " + quote(runs) + " " + extra);
  return parse_outcome(r.code, r.out);
}

struct DryLine {
  std::string state, reason;
};

// `--dry-run`: label → {HIT | EXTEND | RUN, reason}.
std::map<std::string, DryLine> dry_run(const std::string& spec, const std::string& cache, const std::string& extra = "") {
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

std::vector<std::string> run_args(const std::string& spec, const std::string& cache, const std::string& runs,
                                  const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"run", spec, "--cache-dir", cache, "--runs-dir", runs};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The teacher stage's "N seeds cached, M computed" line.
std::pair<int64_t, int64_t> teacher_counts(const std::string& out) {
  std::smatch m;
  BOOST_REQUIRE_MESSAGE(std::regex_search(out, m, std::regex("teacher: (\\d+) seeds cached, (\\d+) computed")),
                        "no teacher count line in:\n" << out);
  return {std::stoll(m[1]), std::stoll(m[2])};
}

// ---- artifacts ----

std::vector<fs::path> shard_files(const fs::path& cache) {
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
std::map<int64_t, TeacherRow> teacher_rows(const fs::path& cache, const std::string& key) {
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
void check_same_teacher(const std::map<int64_t, TeacherRow>& a, const std::map<int64_t, TeacherRow>& b,
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
std::string eval_values(const fs::path& cache, const std::string& key) {
  json rows = json::parse(read_text(cache / "evaluate" / key / "rows.json"));
  json out = json::array();
  for (const auto& r : rows)
    if (r["metric"] != "wall_seconds") out.push_back(r);
  BOOST_TEST(!out.empty());
  return out.dump();
}

// metrics.csv of a run directory without the wall-clock rows (they are timings, not results).
std::string metric_values(const fs::path& run_dir) {
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

std::vector<at::Tensor> predictor_params(const fs::path& cache, const std::string& key) {
  LoadedPredictor p = load_predictor((cache / "train_amed" / key / "predictor.h5").string());
  std::vector<at::Tensor> out;
  for (const auto& t : p.net->parameters()) out.push_back(t.detach().clone());
  return out;
}

bool same_tensors(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
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

Results results_of(const Outcome& o, const fs::path& cache) {
  BOOST_REQUIRE_EQUAL(o.code, 0);
  return {teacher_rows(cache, o.key.at("teacher")), eval_values(cache, o.key.at("eval")),
          eval_values(cache, o.key.at("eval_amed")), metric_values(o.run_dir)};
}

void check_same_results(const Results& a, const Results& b, size_t seeds) {
  check_same_teacher(a.teacher, b.teacher, seeds);
  BOOST_TEST(a.eval == b.eval);
  BOOST_TEST(a.eval_amed == b.eval_amed);
  BOOST_TEST(a.metrics == b.metrics);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(run_cache)

// ---- 1. SIGKILL during teacher generation, then resume --------------------------------------------------

BOOST_AUTO_TEST_CASE(sigkill_during_teacher_then_resume_equals_uninterrupted, *boost::unit_test::timeout(120)) {
  TempDir dir("dsx_run_cache");
  const std::string spec = write_spec(dir, slow_spec(dir, "0-599"));  // 12 shards of 50
  const std::string killed = dir.file("killed"), clean = dir.file("clean"), runs = dir.file("runs");

  pid_t pid = spawn_dsx(run_args(spec, killed, runs), dir.file("killed.log"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (shard_files(killed).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  const int64_t survived = int64_t(shard_files(killed).size());
  BOOST_TEST_MESSAGE("shards on disk at SIGKILL: " << survived);
  BOOST_REQUIRE(survived >= 1);
  BOOST_REQUIRE(survived < 12);  // really killed during generation
  BOOST_TEST(read_text(dir.file("killed.log")).find("DONE teacher") == std::string::npos);

  auto dry = dry_run(spec, killed);
  BOOST_TEST(dry["teacher"].state == "EXTEND", dry["teacher"].reason);
  BOOST_TEST(dry["teacher"].reason.find(fmt::format("{} of 600 seeds cached", 50 * survived)) != std::string::npos,
             dry["teacher"].reason);

  Outcome resumed = run_spec(spec, killed, runs);
  BOOST_TEST_CONTEXT(resumed.out) {
    BOOST_REQUIRE_EQUAL(resumed.code, 0);
    BOOST_TEST(resumed.out.find("plan: EXTEND teacher") != std::string::npos);
    auto [cached, computed] = teacher_counts(resumed.out);
    BOOST_TEST(cached == 50 * survived);  // every shard written before the kill is used, none recomputed
    BOOST_TEST(computed == 600 - 50 * survived);
    for (const std::string l : {"teacher", "amed", "eval_amed", "report"}) BOOST_TEST(resumed.logged[l] == "DONE", l);
    // eval does not depend on the teacher: it ran beside it and may have finished before the kill.
    const bool eval_done = read_text(dir.file("killed.log")).find("DONE eval [") != std::string::npos;
    BOOST_TEST(resumed.logged["eval"] == (eval_done ? "HIT" : "DONE"));
  }
  BOOST_TEST(shard_files(killed).size() == 12u);

  Outcome full = run_spec(spec, clean, runs);
  BOOST_TEST_CONTEXT(full.out) {
    BOOST_REQUIRE_EQUAL(full.code, 0);
    BOOST_TEST(teacher_counts(full.out).second == 600);
  }
  BOOST_TEST(full.key == resumed.key);  // same keys: the caches hold the same artifacts
  check_same_results(results_of(resumed, killed), results_of(full, clean), 600);
  BOOST_TEST(same_tensors(predictor_params(killed, resumed.key.at("amed")), predictor_params(clean, full.key.at("amed"))));
}

// ---- 2. two concurrent runs of one spec on one cache ----------------------------------------------------

BOOST_AUTO_TEST_CASE(two_concurrent_runs_compute_every_artifact_once, *boost::unit_test::timeout(120)) {
  TempDir dir("dsx_run_cache");
  const std::string spec = write_spec(dir, slow_spec(dir, "0-399"));  // 8 shards of 50
  const std::string cache = dir.file("cache");
  // Separate run directories: RunDir::create picks a free name without an atomic claim.
  pid_t p1 = spawn_dsx(run_args(spec, cache, dir.file("runs1")), dir.file("1.log"));
  pid_t p2 = spawn_dsx(run_args(spec, cache, dir.file("runs2")), dir.file("2.log"));
  const int c1 = wait_exit(p1), c2 = wait_exit(p2);
  Outcome o1 = parse_outcome(c1, read_text(dir.file("1.log"))), o2 = parse_outcome(c2, read_text(dir.file("2.log")));
  BOOST_TEST_CONTEXT(o1.out << "\n---- second process ----\n" << o2.out) {
    BOOST_REQUIRE_EQUAL(o1.code, 0);
    BOOST_REQUIRE_EQUAL(o2.code, 0);
    // The teacher stage manages its own entry: both processes enter it, one computes every seed, the other
    // waits for the key's lock and then finds all of them (or probes HIT and never enters).
    int64_t computed = 0;
    for (const Outcome* o : {&o1, &o2})
      if (o->out.find("RUN teacher (") != std::string::npos) computed += teacher_counts(o->out).second;
    BOOST_TEST(computed == 400);
    for (const std::string l : {"amed", "eval_amed", "eval", "report"}) {
      const std::set<std::string> seen = {o1.logged[l], o2.logged[l]};
      BOOST_TEST((seen == std::set<std::string>{"DONE", "HIT"}), l << ": " << o1.logged[l] << " / " << o2.logged[l]);
      BOOST_TEST((o1.status[l] == "RUN") + (o2.status[l] == "RUN") == 1, l);
    }
    BOOST_TEST(o1.key == o2.key);
    BOOST_TEST(metric_values(o1.run_dir) == metric_values(o2.run_dir));
  }
  // One entry per artifact, 8 shards, everything verifies.
  std::map<std::string, int> entries;
  for (auto& kind : fs::directory_iterator(cache))
    if (kind.is_directory())
      for (auto& e : fs::directory_iterator(kind.path())) entries[kind.path().filename().string()] += e.is_directory();
  BOOST_TEST(entries["teacher"] == 1);
  BOOST_TEST(entries["train_amed"] == 1);
  BOOST_TEST(entries["evaluate"] == 2);
  BOOST_TEST(entries["report"] == 1);
  BOOST_TEST(shard_files(cache).size() == 8u);
  BOOST_TEST(teacher_rows(cache, o1.key.at("teacher")).size() == 400u);
  Run verify = run_dsx("cache verify --cache-dir " + quote(cache));
  BOOST_TEST(verify.code == 0, verify.out);
}

// ---- 3. corrupted cache files -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(corrupted_cache_files_are_detected_and_rebuilt_identically, *boost::unit_test::timeout(60)) {
  TempDir dir("dsx_run_cache");
  const std::string spec = write_spec(dir, SpecText{});  // small mixture, 40 teacher seeds in 2 shards
  const std::string cache = dir.file("cache"), runs = dir.file("runs");
  Outcome first = run_spec(spec, cache, runs);
  BOOST_TEST_INFO(first.out);
  const Results original = results_of(first, cache);
  const std::vector<at::Tensor> predictor = predictor_params(cache, first.key.at("amed"));
  const fs::path c(cache);

  // (a) an evaluate artifact: rows.json, one byte flipped (same size)
  flip_byte(c / "evaluate" / first.key.at("eval") / "rows.json", 40);
  {
    auto dry = dry_run(spec, cache);
    // The dry run checks checksums too: a same-size corruption is a RUN with the reason.
    BOOST_TEST(dry["eval"].state == "RUN", dry["eval"].reason);
    BOOST_TEST(dry["eval"].reason.find("checksum") != std::string::npos, dry["eval"].reason);
    Outcome o = run_spec(spec, cache, runs);
    BOOST_TEST_CONTEXT(o.out) {
      BOOST_REQUIRE_EQUAL(o.code, 0);
      BOOST_TEST(std::regex_search(o.out, std::regex("RUN eval \\(.*rows\\.json: checksum [0-9a-f]+ but meta says")));
      BOOST_TEST(o.logged["eval"] == "DONE");
      for (const std::string l : {"teacher", "amed", "eval_amed", "report"}) BOOST_TEST(o.logged[l] == "HIT", l);
      BOOST_TEST(eval_values(c, o.key.at("eval")) == original.eval);
      BOOST_TEST(metric_values(o.run_dir) == original.metrics);
    }
  }

  // (b) a train_amed artifact: predictor.h5
  flip_byte(c / "train_amed" / first.key.at("amed") / "predictor.h5",
            std::streamoff(fs::file_size(c / "train_amed" / first.key.at("amed") / "predictor.h5") / 2));
  {
    auto dry = dry_run(spec, cache);
    BOOST_TEST(dry["amed"].state == "RUN", dry["amed"].reason);
    BOOST_TEST(dry["amed"].reason.find("predictor.h5") != std::string::npos, dry["amed"].reason);
    Outcome o = run_spec(spec, cache, runs);
    BOOST_TEST_CONTEXT(o.out) {
      BOOST_REQUIRE_EQUAL(o.code, 0);
      BOOST_TEST(std::regex_search(o.out, std::regex("RUN amed \\(.*predictor\\.h5: checksum [0-9a-f]+ but meta says")));
      BOOST_TEST(o.logged["amed"] == "DONE");
      for (const std::string l : {"teacher", "eval_amed", "eval", "report"}) BOOST_TEST(o.logged[l] == "HIT", l);
    }
    BOOST_TEST(same_tensors(predictor_params(c, first.key.at("amed")), predictor));
    // The rebuilt predictor gives the same numbers downstream.
    Outcome again = run_spec(spec, cache, runs, "--force eval_amed");
    BOOST_TEST_CONTEXT(again.out) {
      BOOST_REQUIRE_EQUAL(again.code, 0);
      BOOST_TEST(again.logged["eval_amed"] == "DONE");
      BOOST_TEST(eval_values(c, again.key.at("eval_amed")) == original.eval_amed);
    }
  }

  // (c) a teacher shard: dropped with a warning, only its seeds recomputed
  const std::vector<fs::path> shards = shard_files(c);
  BOOST_REQUIRE_EQUAL(shards.size(), 2u);
  flip_byte(shards[1], std::streamoff(fs::file_size(shards[1]) / 2));
  {
    auto dry = dry_run(spec, cache);
    BOOST_TEST(dry["teacher"].state == "EXTEND");
    BOOST_TEST(dry["teacher"].reason.find("20 of 40 seeds cached") != std::string::npos, dry["teacher"].reason);
    Outcome o = run_spec(spec, cache, runs);
    BOOST_TEST_CONTEXT(o.out) {
      BOOST_REQUIRE_EQUAL(o.code, 0);
      BOOST_TEST(o.out.find("teacher: warning: dropping corrupt shard") != std::string::npos);
      BOOST_TEST(o.out.find(shards[1].filename().string() + ": checksum") != std::string::npos);
      BOOST_TEST((teacher_counts(o.out) == std::pair<int64_t, int64_t>{20, 20}));
      for (const std::string l : {"amed", "eval_amed", "eval", "report"}) BOOST_TEST(o.logged[l] == "HIT", l);
    }
    check_same_teacher(teacher_rows(c, first.key.at("teacher")), original.teacher, 40);
    BOOST_TEST(shard_files(c) == shards);  // recomputed under the same content name
  }
  Run verify = run_dsx("cache verify --cache-dir " + quote(cache));
  BOOST_TEST(verify.code == 0, verify.out);
}

// ---- 4. hit / miss / invalidation per parameter -----------------------------------------------------------

struct ParamCase {
  std::string what, sets;  // --set arguments
  std::string teacher, amed, eval_amed, eval, report;  // expected dry-run states
};

BOOST_AUTO_TEST_CASE(dry_run_hits_and_misses_per_parameter, *boost::unit_test::timeout(90)) {
  TempDir dir("dsx_run_cache");
  const std::string spec = write_spec(dir, SpecText{});
  const std::string cache = dir.file("cache"), runs = dir.file("runs");
  Outcome warm = run_spec(spec, cache, runs);
  BOOST_TEST_INFO(warm.out);
  BOOST_REQUIRE_EQUAL(warm.code, 0);
  const std::string H = "HIT", R = "RUN", E = "EXTEND";
  // Defaults of the spec: teacher heun m=1 polynomial(4, rho 7) seeds 0-39 batch 20; amed ipndm+afs;
  // eval euler/ipndm NFE 3,5 on seeds 5000-5007; report title "cache test", nfe [3, 5].
  const std::vector<ParamCase> cases = {
      {"unchanged", "", H, H, H, H, H},
      {"eval nfe", "stages.eval.nfe=[3,7]", H, H, H, R, R},
      {"eval solver option", "stages.eval.methods=[{solver: {name: euler}}, {solver: {name: ipndm, max_order: 2}}]",
       H, H, H, R, R},
      // The options as written, not resolved: spelling out a default is another key (and another
      // `options` column in the rows).
      {"eval solver default spelt out",
       "stages.eval.methods=[{solver: {name: euler}}, {solver: {name: ipndm, max_order: 4}}]", H, H, H, R, R},
      {"eval schedule rho", "stages.eval.schedule.rho=5", H, H, H, R, R},
      {"eval seeds", "stages.eval.seeds=5000-5009", H, H, H, R, R},
      {"eval metrics", "stages.eval.metrics=[rmse_to_reference,log_likelihood]", H, H, H, R, R},
      {"eval workers", "stages.eval.workers=2", H, H, H, H, H},
      {"eval_amed seeds", "stages.eval_amed.seeds=6000-6007", H, H, R, H, R},
      {"teacher m", "stages.teacher.m=2", R, R, R, H, R},
      {"teacher solver", "stages.teacher.solver={name: euler}", R, R, R, H, R},
      {"teacher solver option", "stages.teacher.solver={name: heun, afs: true}", R, R, R, H, R},
      {"teacher solver default spelt out", "stages.teacher.solver={name: heun, afs: false}", H, H, H, H, H},
      {"teacher schedule", "stages.teacher.schedule.rho=5", R, R, R, H, R},
      {"teacher batch", "stages.teacher.batch=7", H, H, H, H, H},
      {"teacher workers", "stages.teacher.workers=2", H, H, H, H, H},
      {"teacher seeds, same set spelt otherwise", "stages.teacher.seeds=0-19,20-39", H, H, H, H, H},
      {"amed lr", "stages.amed.lr=0.003", H, R, R, H, R},
      {"amed max_samples", "stages.amed.max_samples=20", H, R, R, H, R},
      {"amed seed", "stages.amed.seed=7", H, R, R, H, R},
      {"report title", "stages.report.title=other", H, H, H, H, R},  // the title is in report.md
      {"report nfe", "stages.report.nfe=[3]", H, H, H, H, R},
      {"precision", "precision=float64", R, R, R, R, R},
      // Seeds: the teacher entry extends (EXTEND) or serves a subset (HIT), and train_amed trains on every
      // teacher seed (max_samples 0): its artifact changes, so it and everything after it must rerun.
      {"teacher seeds extended", "stages.teacher.seeds=0-59", E, R, R, H, R},
      {"teacher seeds subset", "stages.teacher.seeds=0-19", H, R, R, H, R},
  };
  for (const auto& c : cases) {
    std::string extra;
    if (!c.sets.empty()) extra = "--set " + quote(c.sets);
    auto dry = dry_run(spec, cache, extra);
    const std::map<std::string, std::string> want = {
        {"teacher", c.teacher}, {"amed", c.amed}, {"eval_amed", c.eval_amed}, {"eval", c.eval}, {"report", c.report}};
    std::string got_text, want_text;
    bool same = true;
    for (const auto& l : kLabels) {
      got_text += l + "=" + dry[l].state + " ";
      want_text += l + "=" + want.at(l) + " ";
      same = same && dry[l].state == want.at(l);
    }
    BOOST_TEST(same, c.what << " (" << c.sets << "): got " << got_text << "want " << want_text);
  }
  // A changed key says why: the nearest cached entry's differing params.
  auto nfe = dry_run(spec, cache, "--set " + quote("stages.eval.nfe=[3,7]"));
  BOOST_TEST(nfe["eval"].reason == "params changed vs nearest cached entry: nfe [3,5]→[3,7]", nfe["eval"].reason);
  BOOST_TEST(nfe["report"].reason.find("params changed") == std::string::npos, nfe["report"].reason);

  // Real runs agree with the dry run: only the predicted stages compute, and what never matters
  // (--runs-dir, --threads, teacher batch/workers, eval workers) recomputes nothing.
  Outcome other = run_spec(spec, cache, dir.file("runs_other"),
                           "--threads 1 --set stages.teacher.batch=7 --set stages.teacher.workers=2 "
                           "--set stages.eval.workers=2");
  BOOST_TEST_CONTEXT(other.out) {
    BOOST_REQUIRE_EQUAL(other.code, 0);
    for (const auto& l : kLabels) BOOST_TEST(other.logged[l] == "HIT", l);
    BOOST_TEST(other.key == warm.key);
    BOOST_TEST(metric_values(other.run_dir) == metric_values(warm.run_dir));
  }
  Outcome changed = run_spec(spec, cache, runs, "--set " + quote("stages.eval.nfe=[3,7]"));
  BOOST_TEST_CONTEXT(changed.out) {
    BOOST_REQUIRE_EQUAL(changed.code, 0);
    const std::map<std::string, std::string> want = {
        {"teacher", "HIT"}, {"amed", "HIT"}, {"eval_amed", "HIT"}, {"eval", "DONE"}, {"report", "DONE"}};
    BOOST_TEST((changed.logged == want));
    BOOST_TEST(changed.key.at("eval") != warm.key.at("eval"));
    BOOST_TEST(changed.key.at("teacher") == warm.key.at("teacher"));
  }
  Outcome m2 = run_spec(spec, cache, runs, "--set stages.teacher.m=2");
  BOOST_TEST_CONTEXT(m2.out) {
    BOOST_REQUIRE_EQUAL(m2.code, 0);
    const std::map<std::string, std::string> want = {
        {"teacher", "DONE"}, {"amed", "DONE"}, {"eval_amed", "DONE"}, {"eval", "HIT"}, {"report", "DONE"}};
    BOOST_TEST((m2.logged == want));
    BOOST_TEST(teacher_counts(m2.out).second == 40);
  }
}

// ---- 5. extension by seed range ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(teacher_extension_equals_a_fresh_run, *boost::unit_test::timeout(60)) {
  TempDir dir("dsx_run_cache");
  SpecText st;
  st.teacher_seeds = "0-99";
  st.batch = 40;
  const std::string small = write_spec(dir, st, "small.yaml");
  st.teacher_seeds = "0-249";
  const std::string large = write_spec(dir, st, "large.yaml");
  const std::string grown = dir.file("grown"), fresh = dir.file("fresh"), runs = dir.file("runs");

  Outcome first = run_spec(small, grown, runs);
  BOOST_TEST_INFO(first.out);
  BOOST_REQUIRE_EQUAL(first.code, 0);
  BOOST_TEST(teacher_counts(first.out).second == 100);
  auto dry = dry_run(large, grown);
  BOOST_TEST(dry["teacher"].state == "EXTEND");
  BOOST_TEST(dry["teacher"].reason.find("100 of 250 seeds cached") != std::string::npos, dry["teacher"].reason);

  Outcome extended = run_spec(large, grown, runs);
  BOOST_TEST_CONTEXT(extended.out) {
    BOOST_REQUIRE_EQUAL(extended.code, 0);
    BOOST_TEST((teacher_counts(extended.out) == std::pair<int64_t, int64_t>{100, 150}));
  }
  Outcome clean = run_spec(large, fresh, runs);
  BOOST_TEST_CONTEXT(clean.out) {
    BOOST_REQUIRE_EQUAL(clean.code, 0);
    BOOST_TEST((teacher_counts(clean.out) == std::pair<int64_t, int64_t>{0, 250}));
  }
  BOOST_TEST(extended.key.at("teacher") == clean.key.at("teacher"));
  check_same_teacher(teacher_rows(grown, extended.key.at("teacher")), teacher_rows(fresh, clean.key.at("teacher")), 250);
  // 100 seeds from the first run + 150 from the extension, in shards of 40 cut from each request.
  BOOST_TEST(shard_files(grown).size() == 3u + 4u);
  BOOST_TEST(shard_files(fresh).size() == 7u);

  // Downstream of the extension: train_amed trains on every teacher seed, so its key follows the teacher's
  // seeds and it retrains on 250 like the fresh run; every downstream number equals the fresh run's.
  BOOST_TEST(extended.logged["amed"] == "DONE");
  BOOST_TEST(extended.key.at("amed") == clean.key.at("amed"));
  BOOST_TEST(eval_values(grown, extended.key.at("eval_amed")) == eval_values(fresh, clean.key.at("eval_amed")));
  BOOST_TEST(eval_values(grown, extended.key.at("eval")) == eval_values(fresh, clean.key.at("eval")));
  // Forced again from the extended entry, the downstream stages give the same numbers once more.
  Outcome retrained = run_spec(large, grown, runs, "--force amed --force eval_amed --force report");
  BOOST_TEST_CONTEXT(retrained.out) {
    BOOST_REQUIRE_EQUAL(retrained.code, 0);
    BOOST_TEST(retrained.logged["teacher"] == "HIT");
    BOOST_TEST(retrained.out.find("amed: 250 samples") != std::string::npos);
  }
  BOOST_TEST(same_tensors(predictor_params(grown, retrained.key.at("amed")), predictor_params(fresh, clean.key.at("amed"))));
  check_same_results(results_of(retrained, grown), results_of(clean, fresh), 250);
}

// ---- 6. --force teacher racing another forced run and a plain run -------------------------------------

BOOST_AUTO_TEST_CASE(forced_teacher_regenerates_under_the_lock, *boost::unit_test::timeout(120)) {
  TempDir dir("dsx_run_cache");
  const std::string spec = write_spec(dir, slow_spec(dir, "0-299"));  // 6 shards of 50
  const std::string cache = dir.file("cache");
  Outcome warm = run_spec(spec, cache, dir.file("runs"));
  BOOST_TEST_INFO(warm.out);
  const Results original = results_of(warm, cache);
  const std::string tkey = warm.key.at("teacher");
  const cache::Cache store(cache);

  // Two forced runs (each deletes and regenerates the entry) and a plain run, all at once.
  pid_t pa = spawn_dsx(run_args(spec, cache, dir.file("runs_a"), {"--force", "teacher"}), dir.file("a.log"));
  pid_t pb = spawn_dsx(run_args(spec, cache, dir.file("runs_b"), {"--force", "teacher"}), dir.file("b.log"));
  pid_t pc = spawn_dsx(run_args(spec, cache, dir.file("runs_c")), dir.file("c.log"));
  // Whenever the key's lock is free, the entry is whole: a forced run deletes and refills it only while
  // holding the lock. Take the lock (never waiting) and look, until all three are done.
  int looked = 0, whole = 0;
  std::set<pid_t> running = {pa, pb, pc};
  std::map<pid_t, int> codes;
  while (!running.empty()) {
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      if (::waitpid(*it, &status, WNOHANG) == *it) {
        codes[*it] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        it = running.erase(it);
      } else {
        ++it;
      }
    }
    try {
      cache::Lock held(store.lock_path("teacher", tkey), 0);
      ++looked;
      json meta = json::parse(read_text(fs::path(store.dir("teacher", tkey)) / "meta.json"), nullptr, false);
      whole += meta.is_object() && meta["shards"].size() == 6 && meta["num_samples"] == 300 && shard_files(cache).size() == 6;
    } catch (const Error&) {  // held by a dsx process
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST_MESSAGE("lock taken by the test " << looked << " times");
  BOOST_TEST(whole == looked);
  BOOST_TEST(looked > 0);
  Outcome a = parse_outcome(codes[pa], read_text(dir.file("a.log")));
  Outcome b = parse_outcome(codes[pb], read_text(dir.file("b.log")));
  Outcome c = parse_outcome(codes[pc], read_text(dir.file("c.log")));
  BOOST_TEST_CONTEXT(a.out << "\n---- b ----\n" << b.out << "\n---- c ----\n" << c.out) {
    BOOST_REQUIRE_EQUAL(a.code, 0);
    BOOST_REQUIRE_EQUAL(b.code, 0);
    BOOST_REQUIRE_EQUAL(c.code, 0);
    for (Outcome* o : {&a, &b}) {
      BOOST_TEST(o->out.find("plan: RUN    teacher (forced (--force))") != std::string::npos);
      BOOST_TEST((teacher_counts(o->out) == std::pair<int64_t, int64_t>{0, 300}));  // every seed regenerated
      BOOST_TEST(o->logged["teacher"] == "DONE");
      // The forced teacher keeps its key, so nothing downstream recomputes.
      for (const std::string l : {"amed", "eval_amed", "eval", "report"}) BOOST_TEST(o->logged[l] == "HIT", l);
      BOOST_TEST(metric_values(o->run_dir) == original.metrics);
    }
    // The plain run never computes a seed (it finds the entry whole, or waits for the lock and then does).
    if (c.out.find("RUN teacher (") != std::string::npos) BOOST_TEST(teacher_counts(c.out).second == 0);
    for (const std::string l : {"amed", "eval_amed", "eval", "report"}) BOOST_TEST(c.logged[l] == "HIT", l);
    BOOST_TEST(metric_values(c.run_dir) == original.metrics);
  }
  check_same_teacher(teacher_rows(cache, tkey), original.teacher, 300);
  BOOST_TEST(shard_files(cache).size() == 6u);
  Run verify = run_dsx("cache verify --cache-dir " + quote(cache));
  BOOST_TEST(verify.code == 0, verify.out);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
