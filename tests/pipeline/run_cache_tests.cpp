// The artifact cache of `dsx run`, through the real binary: corrupted files are detected and rebuilt
// identically, each parameter invalidates exactly the stages it should (and cosmetic ones none), and a
// teacher extended by seed range equals a fresh run, downstream stages included.
#include "run_cache_support.h"

namespace dsx::test {
using namespace run_cache;

BOOST_AUTO_TEST_SUITE(run_cache)

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
      BOOST_TEST(
          std::regex_search(o.out, std::regex("RUN amed \\(.*predictor\\.h5: checksum [0-9a-f]+ but meta says")));
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
  std::string what, sets;                              // --set arguments
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
      {"eval solver option", "stages.eval.methods=[{solver: {name: euler}}, {solver: {name: ipndm, max_order: 2}}]", H,
       H, H, R, R},
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
  check_same_teacher(teacher_rows(grown, extended.key.at("teacher")), teacher_rows(fresh, clean.key.at("teacher")),
                     250);
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
  BOOST_TEST(
      same_tensors(predictor_params(grown, retrained.key.at("amed")), predictor_params(fresh, clean.key.at("amed"))));
  check_same_results(results_of(retrained, grown), results_of(clean, fresh), 250);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
