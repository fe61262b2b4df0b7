// `dsx run` over several processes (c10d: TCPStore + ProcessGroupGloo on loopback), through the real binary:
//   - `--nproc 2` gives the teacher trajectories, evaluate rows and metrics.csv of one process bit for bit
//     (per-seed noise; teacher shards split by claims, evaluate items by rank, rows gathered to rank 0 in
//     item order) and its predictor to 1e-6 relative in float64 (data-parallel training: each rank's
//     gradient is its half of the batch's, summed, so only the order of additions differs);
//   - two processes started by hand with torchrun's variables equal `--nproc 2`;
//   - a rank killed mid-teacher stops the other with a message naming it, and a rerun resumes from the
//     committed shards and ends equal to an uninterrupted run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "run_cache_support.h"

namespace dsx::test {
using namespace run_cache;

namespace {

// Rank 0's log lines carry "[rank 0] ": parse_outcome reads them as a one-process run's.
Outcome rank0_outcome(int code, const std::string& out) {
  return parse_outcome(code, std::regex_replace(out, std::regex("\\[rank 0\\] "), ""));
}

Outcome run_nproc(const std::string& spec, const std::string& cache, const std::string& runs, int n) {
  Run r = run_dsx("run " + quote(spec) + " --cache-dir " + quote(cache) + " --runs-dir " + quote(runs) +
                  fmt::format(" --nproc {}", n));
  return rank0_outcome(r.code, r.out);
}

// Seeds computed by each rank ("[rank R]   teacher: A seeds cached, B computed"; rank 0's prefix stripped).
std::map<int, int64_t> computed_by_rank(const std::string& out) {
  std::map<int, int64_t> by;
  const std::regex re("(?:\\[rank (\\d+)\\])?\\s+teacher: \\d+ seeds cached, (\\d+) computed");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it)
    by[(*it)[1].matched ? std::stoi((*it)[1]) : 0] += std::stoll((*it)[2]);
  return by;
}

// `text` written to DIR/name.yaml and run by one process (cache one/) and by `--nproc 2` (cache two/).
std::pair<Outcome, Outcome> one_and_two(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string spec = dir.file(name + ".yaml");
  std::ofstream(spec) << text;
  Outcome one = run_spec(spec, dir.file("one"), dir.file("runs1"));
  Outcome two = run_nproc(spec, dir.file("two"), dir.file("runs2"), 2);
  BOOST_TEST_CONTEXT(two.out) {
    BOOST_REQUIRE_EQUAL(one.code, 0);
    BOOST_REQUIRE_EQUAL(two.code, 0);
  }
  return {std::move(one), std::move(two)};
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The rank processes under a launcher: its children, by their RANK variable.
std::map<int, pid_t> ranks_of(pid_t launcher) {
  std::map<int, pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::istringstream stat(read_text(e.path() / "stat"));
    std::string pid, comm, state;
    pid_t ppid = 0;
    stat >> pid >> comm >> state >> ppid;
    if (ppid != launcher) continue;
    const std::string env = read_text(e.path() / "environ");
    std::smatch m;
    if (std::regex_search(env, m, std::regex("(^|\\0)RANK=(\\d+)"))) out[std::stoi(m[2])] = std::stoi(name);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(distributed_run)

BOOST_AUTO_TEST_CASE(nproc_2_equals_one_process, *boost::unit_test::timeout(240)) {
  TempDir dir("dsx_dist");
  SpecText s;
  s.teacher_seeds = "0-199";   // 10 shards of 20 for the ranks to split
  s.eval_seeds = "5000-5159";  // 3 chunks of the reference solve: both ranks solve some
  const std::string spec = write_spec(dir, s);
  {  // float64: the predictor's tolerance is rounding in the gradient sum, not float32's
    std::string text = read_text(spec);
    text.replace(text.find("precision: float32"), 18, "precision: float64");
    std::ofstream(spec) << text;
  }
  Outcome one = run_spec(spec, dir.file("one"), dir.file("runs1"));
  Outcome two = run_nproc(spec, dir.file("two"), dir.file("runs2"), 2);
  BOOST_TEST_CONTEXT(two.out) {
    BOOST_REQUIRE_EQUAL(two.code, 0);
    BOOST_TEST(two.summary["ranks"] == 2);
    for (const auto& l : kLabels) BOOST_TEST(two.logged[l] == "DONE", l);
    BOOST_TEST(two.out.find("[rank 1] ") != std::string::npos);
    BOOST_TEST(std::distance(fs::directory_iterator(dir.file("runs2")), fs::directory_iterator{}) == 1);
    const auto by = computed_by_rank(two.out);
    BOOST_TEST(by.size() == 2u);
    int64_t total = 0;
    for (const auto& [r, n] : by) total += n;
    BOOST_TEST(total == 200);  // each seed computed once, by whichever rank claimed its shard
    // Rank 1 solved chunks of the exact ODE reference (its progress line), and the rows are still the same.
    BOOST_TEST(std::regex_search(two.out, std::regex("\\[rank 1\\]\\s+eval\\S* reference: ")));
  }
  BOOST_TEST(one.key == two.key);
  const auto p1 = predictor_params(dir.file("one"), one.key.at("amed"));
  const auto p2 = predictor_params(dir.file("two"), two.key.at("amed"));
  BOOST_REQUIRE_EQUAL(p1.size(), p2.size());
  double worst = 0;
  for (size_t i = 0; i < p1.size(); ++i)
    worst = std::max(worst, ((p1[i] - p2[i]).abs().max() / p1[i].abs().max().clamp_min(1e-300)).item<double>());
  BOOST_TEST_MESSAGE("predictor, largest relative difference to one process: " << worst);
  BOOST_TEST(worst < 1e-6);
  BOOST_TEST(two.out.find("[rank 1]   amed: iter 0 loss") != std::string::npos);  // rank 1 trained its half
  // The predictor's rows differ by as little; every other row is bit-identical.
  Results r1 = results_of(one, dir.file("one")), r2 = results_of(two, dir.file("two"));
  const json a1 = json::parse(r1.eval_amed), a2 = json::parse(r2.eval_amed);
  BOOST_REQUIRE_EQUAL(a1.size(), a2.size());
  for (size_t i = 0; i < a1.size(); ++i) {
    const double v1 = a1[i]["value"], v2 = a2[i]["value"];
    BOOST_TEST(std::abs(v1 - v2) <= 1e-6 * std::abs(v1), a1[i].dump() << " vs " << a2[i].dump());
  }
  auto without_amed = [](const std::string& csv) {
    std::string out;
    std::istringstream in(csv);
    for (std::string line; std::getline(in, line);)
      if (line.find("eval_amed,") != 0) out += line + "\n";
    return out;
  };
  BOOST_TEST(without_amed(r1.metrics) == without_amed(r2.metrics));
  r2.eval_amed = r1.eval_amed, r2.metrics = r1.metrics;
  check_same_results(r1, r2, 200);  // the teacher and eval, bit for bit
  // A second --nproc run finds everything.
  Outcome again = run_nproc(spec, dir.file("two"), dir.file("runs2"), 2);
  BOOST_REQUIRE_EQUAL(again.code, 0);
  for (const auto& l : kLabels) BOOST_TEST(again.logged[l] == "HIT", l);
}

// The quickstart (light, in float64; teacher batches of 50 so both ranks compute shards): `--nproc 2`
// writes the metrics.csv of one process, every row bit for bit but the AMED predictors' (their rows and
// parameters agree to 1e-6 relative), and the same teacher trajectories. In float32 the predictors differ
// far more: the predictor's matmuls round differently for half batches, and Adam turns rounding noise in
// near-zero gradient components into steps of size lr (measured: metrics of the AMED rows up to 2% apart).
BOOST_AUTO_TEST_CASE(quickstart_light_nproc_2_equals_one_process, *boost::unit_test::timeout(300)) {
  TempDir dir("dsx_dist_quickstart");
  const std::string spec = std::string(DSX_SOURCE_DIR) + "/configs/quickstart.yaml";
  auto run = [&](const std::string& name, const std::string& extra) {
    Run r = run_dsx("run " + spec + " --light --set precision=float64 --set stages.teacher.batch=50 --cache-dir " +
                    dir.file(name) + " --runs-dir " + dir.file(name + "_runs") + extra);
    return rank0_outcome(r.code, r.out);
  };
  const Outcome one = run("one", ""), two = run("two", " --nproc 2");
  BOOST_TEST_CONTEXT(two.out) {
    BOOST_REQUIRE_EQUAL(one.code, 0);
    BOOST_REQUIRE_EQUAL(two.code, 0);
  }
  BOOST_TEST(one.key == two.key);
  // metrics.csv: value by row; AMED rows (a predictor column) within tolerance, the rest equal as text.
  auto rows = [](const fs::path& run_dir) {
    std::map<std::string, std::string> out;
    std::istringstream in(read_text(run_dir / "metrics.csv"));
    for (std::string line; std::getline(in, line);) {
      if (line.find(",wall_seconds,") != std::string::npos) continue;
      const size_t cut = line.rfind(',');
      out[line.substr(0, cut)] = line.substr(cut + 1);
    }
    return out;
  };
  const auto r1 = rows(one.run_dir), r2 = rows(two.run_dir);
  BOOST_REQUIRE_EQUAL(r1.size(), r2.size());
  int amed_rows = 0;
  for (const auto& [k, v] : r1) {
    BOOST_REQUIRE(r2.count(k));
    std::vector<std::string> cells;
    std::stringstream ks(k);
    for (std::string c; std::getline(ks, c, ',');) cells.push_back(c);
    if (cells.size() > 5 && !cells[5].empty() && k.rfind("stage,", 0) != 0) {
      ++amed_rows;
      const double a = std::stod(v), b = std::stod(r2.at(k));
      BOOST_TEST(std::abs(a - b) <= 1e-6 * std::abs(a), k << ": " << v << " vs " << r2.at(k));
    } else {
      BOOST_TEST(v == r2.at(k), k);
    }
  }
  BOOST_TEST(amed_rows > 0);
  for (const auto& [label, key] : one.key) {
    if (label.rfind("teacher", 0) == 0)
      check_same_teacher(teacher_rows(dir.file("one"), key), teacher_rows(dir.file("two"), key), 200);
    if (label.rfind("amed", 0) != 0) continue;
    const auto p1 = predictor_params(dir.file("one"), key), p2 = predictor_params(dir.file("two"), key);
    for (size_t i = 0; i < p1.size(); ++i)
      BOOST_TEST((p1[i] - p2[i]).abs().max().item<double>() <= 1e-6 * p1[i].abs().max().item<double>(), label);
  }
}

// search_schedule shares the cost matrix's batches (64 trajectories) over the ranks and merges their sums
// in batch order: cost.h5 and the grid equal one process's to the bit.
BOOST_AUTO_TEST_CASE(gits_cost_matrix_sharded_equals_one_process, *boost::unit_test::timeout(180)) {
  TempDir dir("dsx_dist_gits");
  const auto [one, two] =
      one_and_two(dir, "gits",
                  "name: gits_dist\nmodel: {kind: gaussian_mixture, file: " + kSmallModel +
                      "}\nprecision: float64\nstages:\n"
                      "  fine: {kind: teacher, schedule: {kind: polynomial, num_steps: 13, rho: 7},"
                      " solver: {name: ipndm}, m: 0, directions: true, seeds: 0-299, batch: 50}\n"
                      "  gits: {kind: search_schedule, teacher: fine, nfe: 4, afs: true, afs_samples: 16}\n");
  BOOST_TEST(two.out.find("[rank 1] DONE gits") != std::string::npos, two.out);
  const fs::path e1 = fs::path(dir.file("one")) / "search_schedule" / one.key.at("gits");
  const fs::path e2 = fs::path(dir.file("two")) / "search_schedule" / two.key.at("gits");
  BOOST_TEST(at::equal(h5::read_tensor(h5::File::open((e1 / "cost.h5").string()), "cost"),
                       h5::read_tensor(h5::File::open((e2 / "cost.h5").string()), "cost")));
  const json s1 = json::parse(read_text(e1 / "schedule.json")), s2 = json::parse(read_text(e2 / "schedule.json"));
  BOOST_TEST(s1["sigmas"] == s2["sigmas"]);
  BOOST_TEST(s1["indices"] == s2["indices"]);
}

// learn_schedule (LD3) and train_epd fit data-parallel: each rank its half of every batch and of the
// held-out rows, gradients and squared errors summed. In float64 the grid, the model σ and the EPD
// parameters equal one process's to 1e-9 relative (the order of additions in the sums).
BOOST_AUTO_TEST_CASE(ld3_and_epd_fit_data_parallel, *boost::unit_test::timeout(240)) {
  TempDir dir("dsx_dist_fit");
  const auto [one, two] =
      one_and_two(dir, "fit",
                  "name: fit_dist\nmodel: {kind: gaussian_mixture, file: " + kSmallModel +
                      "}\nprecision: float64\nstages:\n"
                      "  exact: {kind: teacher, schedule: {kind: polynomial, num_steps: 2, rho: 7},"
                      " solver: {name: exact}, seeds: 0-95, batch: 16}\n"
                      "  ld3: {kind: learn_schedule, teacher: exact, solver: {name: ipndm}, nfe: 3, iterations: 30,"
                      " batch: 16, validation: 32, validate_every: 5, decoupled: true}\n"
                      "  epd: {kind: train_epd, teacher: exact, nfe: 5, k: 2, iterations: 20, batch: 16,"
                      " validation: 32, lr: 0.05}\n");
  BOOST_TEST(two.out.find("[rank 1]   ld3: step") != std::string::npos, two.out);  // rank 1 fitted its half
  auto close = [](const std::vector<double>& a, const std::vector<double>& b, const std::string& what) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(std::abs(a[i]), 1e-300));
    BOOST_TEST_MESSAGE(what << ": largest relative difference to one process " << worst);
    BOOST_TEST(worst < 1e-9, what);
  };
  const auto grid = [&](const std::string& cache, const Outcome& o) {
    return json::parse(read_text(fs::path(cache) / "learn_schedule" / o.key.at("ld3") / "schedule.json"));
  };
  const json g1 = grid(dir.file("one"), one), g2 = grid(dir.file("two"), two);
  close(g1["sigmas"].get<std::vector<double>>(), g2["sigmas"].get<std::vector<double>>(), "LD3 grid");
  close(g1["model_sigmas"].get<std::vector<double>>(), g2["model_sigmas"].get<std::vector<double>>(), "LD3 model σ");
  const auto epd = [&](const std::string& cache, const Outcome& o) {
    h5::File f = h5::File::open((fs::path(cache) / "train_epd" / o.key.at("epd") / "epd.h5").string());
    std::vector<double> all;
    for (const char* name : {"r", "w", "c", "a"}) {
      const at::Tensor t = h5::read_tensor(f, name).contiguous();
      all.insert(all.end(), t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    }
    return all;
  };
  close(epd(dir.file("one"), one), epd(dir.file("two"), two), "EPD parameters");
}

BOOST_AUTO_TEST_CASE(torchrun_environment_equals_nproc, *boost::unit_test::timeout(240)) {
  TempDir dir("dsx_dist_env");
  SpecText s;
  s.teacher_seeds = "0-99";
  const std::string spec = write_spec(dir, s);
  Outcome launched = run_nproc(spec, dir.file("launched"), dir.file("runs1"), 2);
  BOOST_REQUIRE_EQUAL(launched.code, 0);
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    ::setenv("RANK", std::to_string(r).c_str(), 1);
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", port.c_str(), 1);
    pids.push_back(
        spawn_dsx(run_args(spec, dir.file("by_hand"), dir.file("runs2")), dir.file(fmt::format("{}.log", r))));
  }
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  const int c0 = wait_exit(pids[0]), c1 = wait_exit(pids[1]);
  Outcome by_hand = rank0_outcome(c0, read_text(dir.file("0.log")));
  BOOST_TEST_CONTEXT(by_hand.out << "\n---- rank 1 ----\n" << read_text(dir.file("1.log"))) {
    BOOST_REQUIRE_EQUAL(c0, 0);
    BOOST_REQUIRE_EQUAL(c1, 0);
    BOOST_TEST(by_hand.out.find("2 ranks (torchrun-env)") != std::string::npos);
  }
  check_same_results(results_of(launched, dir.file("launched")), results_of(by_hand, dir.file("by_hand")), 100);
}

BOOST_AUTO_TEST_CASE(a_killed_rank_stops_the_run_and_a_rerun_resumes, *boost::unit_test::timeout(300)) {
  TempDir dir("dsx_dist_kill");
  const std::string spec = write_spec(dir, slow_spec(dir, "0-599"));  // 12 shards of 50, ~0.3 s each
  const std::string cache = dir.file("cache"), runs = dir.file("runs");
  const pid_t launcher = spawn_dsx(run_args(spec, cache, runs, {"--nproc", "2"}), dir.file("killed.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (shard_files(cache).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::map<int, pid_t> ranks = ranks_of(launcher);
  BOOST_REQUIRE_EQUAL(ranks.size(), 2u);
  ::kill(ranks.at(1), SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  const int code = wait_exit(launcher);
  const double stop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string log = read_text(dir.file("killed.log"));
  const size_t survived = shard_files(cache).size();
  BOOST_TEST_MESSAGE("stopped " << stop_s << " s after the kill; shards on disk: " << survived);
  BOOST_TEST_CONTEXT(log) {
    BOOST_TEST(code == 1);
    BOOST_TEST(log.find(fmt::format("rank 1 of 2 (pid {}) was killed by signal 9", ranks.at(1))) != std::string::npos);
    BOOST_TEST(log.find("rerun the same command to resume") != std::string::npos);
    BOOST_TEST(log.find("DONE teacher") == std::string::npos);
    BOOST_TEST(stop_s < 15.0);  // SIGTERM at once, SIGKILL after the 10 s grace at worst
  }
  BOOST_REQUIRE(survived >= 1);
  BOOST_REQUIRE(survived < 12);

  Run r = run_dsx("run " + quote(spec) + " --cache-dir " + quote(cache) + " --runs-dir " + quote(runs) + " --nproc 2");
  Outcome resumed = rank0_outcome(r.code, r.out);
  BOOST_TEST_CONTEXT(resumed.out) {
    BOOST_REQUIRE_EQUAL(resumed.code, 0);
    int64_t computed = 0;
    for (const auto& [rank, n] : computed_by_rank(resumed.out)) computed += n;
    BOOST_TEST(computed <= int64_t(600 - 50 * survived));  // what was committed is not recomputed
  }
  Outcome clean = run_spec(spec, dir.file("clean"), runs);
  check_same_results(results_of(resumed, cache), results_of(clean, dir.file("clean")), 600);
}

BOOST_AUTO_TEST_CASE(a_stopped_rank_fails_the_run_within_the_timeout, *boost::unit_test::timeout(180)) {
  TempDir dir("dsx_dist_hang");
  const std::string spec = write_spec(dir, slow_spec(dir, "0-599"));
  const std::string cache = dir.file("cache");
  const pid_t launcher =
      spawn_dsx(run_args(spec, cache, dir.file("runs"), {"--nproc", "2", "--timeout", "5"}), dir.file("log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (shard_files(cache).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::map<int, pid_t> ranks = ranks_of(launcher);
  BOOST_REQUIRE_EQUAL(ranks.size(), 2u);
  ::kill(ranks.at(1), SIGSTOP);  // hangs: alive, its sockets open, its claim held
  const auto t0 = std::chrono::steady_clock::now();
  const int code = wait_exit(launcher);
  const double stop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string log = read_text(dir.file("log"));
  BOOST_TEST_MESSAGE("the run stopped " << stop_s << " s after rank 1 hung");
  BOOST_TEST_CONTEXT(log) {
    BOOST_TEST(code == 1);
    BOOST_TEST(log.find("rank 0 of 2 (pid") != std::string::npos);  // rank 0 gave up and said why
    BOOST_TEST(log.find("did not answer in time") != std::string::npos);
    BOOST_TEST(stop_s < 60.0);  // the teacher's claim wait and the collective, 5 s each, then the 10 s grace
  }
}

BOOST_AUTO_TEST_CASE(two_sharded_runs_on_one_cache_compute_each_artifact_once, *boost::unit_test::timeout(240)) {
  TempDir dir("dsx_dist_two");
  SpecText s;
  s.teacher_seeds = "0-199";
  const std::string spec = write_spec(dir, s), cache = dir.file("cache");
  const pid_t a = spawn_dsx(run_args(spec, cache, dir.file("runs_a"), {"--nproc", "2"}), dir.file("a.log"));
  const pid_t b = spawn_dsx(run_args(spec, cache, dir.file("runs_b"), {"--nproc", "2"}), dir.file("b.log"));
  const int ca = wait_exit(a), cb = wait_exit(b);
  const std::string la = read_text(dir.file("a.log")), lb = read_text(dir.file("b.log"));
  BOOST_TEST_CONTEXT(la << "\n---- second run ----\n" << lb) {
    BOOST_REQUIRE_EQUAL(ca, 0);
    BOOST_REQUIRE_EQUAL(cb, 0);
    int64_t computed = 0;
    for (const std::string* l : {&la, &lb})
      for (const auto& [rank, n] : computed_by_rank(std::regex_replace(*l, std::regex("\\[rank 0\\] "), "")))
        computed += n;
    BOOST_TEST(computed == 200);  // four processes, every seed once
    for (const std::string label : {"amed", "eval_amed", "eval", "report"}) {
      const std::string run = "[rank 0] RUN " + label + " (";
      BOOST_TEST((la.find(run) != std::string::npos) + (lb.find(run) != std::string::npos) == 1, label);
    }
  }
  Outcome one = run_spec(spec, dir.file("one"), dir.file("runs1"));
  Outcome oa = rank0_outcome(ca, la);
  Results ra = results_of(oa, cache), r1 = results_of(one, dir.file("one"));
  ra.eval_amed = r1.eval_amed;  // the predictor agrees to rounding (float32 here); the rest bit for bit
  ra.metrics = r1.metrics;
  check_same_results(ra, r1, 200);
}

BOOST_AUTO_TEST_CASE(ranks_that_plan_different_jobs_are_refused, *boost::unit_test::timeout(120)) {
  TempDir dir("dsx_dist_mismatch");
  const std::string spec = write_spec(dir, SpecText{});
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    ::setenv("RANK", std::to_string(r).c_str(), 1);
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", port.c_str(), 1);
    std::vector<std::string> extra;
    if (r == 1) extra = {"--set", "stages.eval.nfe=[3]"};
    pids.push_back(
        spawn_dsx(run_args(spec, dir.file("cache"), dir.file("runs"), extra), dir.file(fmt::format("{}.log", r))));
  }
  for (const char* v : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  const int c0 = wait_exit(pids[0]), c1 = wait_exit(pids[1]);
  const std::string l0 = read_text(dir.file("0.log"));
  BOOST_TEST(c0 != 0);
  BOOST_TEST(c1 != 0);
  BOOST_TEST(l0.find("rank 1 planned other jobs or keys than rank 0") != std::string::npos, l0);
  BOOST_TEST(!fs::exists(dir.file("cache") + "/teacher"));  // nothing computed
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
