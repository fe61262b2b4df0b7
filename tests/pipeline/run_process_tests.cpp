// `dsx run` across processes, through the real binary: a run killed (SIGKILL) during teacher generation
// resumes and ends identical to an uninterrupted one; two concurrent runs of one spec compute every artifact
// once; forced teachers racing each other regenerate under the key's lock. Every case is time-boxed.
#include "run_cache_support.h"

namespace dsx::test {
using namespace run_cache;

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
  BOOST_TEST(
      same_tensors(predictor_params(killed, resumed.key.at("amed")), predictor_params(clean, full.key.at("amed"))));
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
      whole += meta.is_object() && meta["shards"].size() == 6 && meta["num_samples"] == 300 &&
               shard_files(cache).size() == 6;
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
