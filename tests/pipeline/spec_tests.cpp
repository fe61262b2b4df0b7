// Spec validation (file:line:col, did-you-mean, dangling references, cycles) and sweep expansion.
#include <boost/test/unit_test.hpp>

#include <map>
#include <set>

#include "experiments/stages.h"
#include "pipeline/graph.h"
#include "support/scratch.h"

namespace dsx {
namespace {

std::string model_line() {
  return std::string("model: {kind: gaussian_mixture, file: ") + DSX_SOURCE_DIR + "/data/gmm/mix8_3x8x8.h5}\n";
}

std::string spec_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  return test::error_message([&] { load_plan_string(text, "t.yaml", SpecOptions{sets, false}, stage_kinds()); });
}

const std::string kStages =
    "stages:\n"
    "  teacher: {kind: teacher, schedule: {kind: time_uniform, num_steps: 4, rho: 1}, m: 1, seeds: 0-7}\n"
    "  amed: {kind: train_amed, teacher: teacher}\n"
    "  eval: {kind: evaluate, predictors: [amed], seeds: 100-103, methods: [{solver: {name: euler}}], nfe: [3]}\n"
    "  report: {kind: report, inputs: [eval]}\n";

StageKind test_kind(const std::string& name, bool throws) {
  StageKind k;
  k.name = name;
  k.parse = [](MapReader& r, const YamlSource& src, const LoadedModel&) {
    StageDef d;
    if (r.has("after"))
      for (const auto& n : r.node("after")) d.refs.push_back({n.Scalar(), src.where(n, r.path("after")), ""});
    r.get_string("kind");
    r.finish({"kind", "after"});
    return d;
  };
  k.run = [throws, name](StageRun&) -> std::pair<std::vector<std::string>, json> {
    if (throws) fail("{} failed on purpose", name);
    return {};
  };
  return k;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(spec)

BOOST_AUTO_TEST_CASE(valid_spec_plans_four_jobs) {
  Plan p = load_plan_string("name: ok\n" + model_line() + kStages, "t.yaml", {}, stage_kinds());
  BOOST_TEST(p.jobs.size() == 4u);
  compute_keys(p);
  BOOST_TEST(p.jobs[0].key.hex.size() == 32u);
}

BOOST_AUTO_TEST_CASE(unknown_key_has_location_and_hint) {
  std::string text = "name: t\n" + model_line() +
                     "stages:\n"
                     "  teacher: {kind: teacher, schedule: {kind: polynomial, num_steps: 4}, seedz: 0-7}\n";
  std::string e = spec_error(text);
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.find("t.yaml:4:") != std::string::npos);
  BOOST_TEST(e.find("seeds") != std::string::npos);
  BOOST_TEST(e.find("seedz") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_kind_did_you_mean) {
  std::string e = spec_error("name: t\n" + model_line() + "stages:\n  r: {kind: reprt, inputs: [r]}\n");
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.find("t.yaml:4:") != std::string::npos);
  BOOST_TEST(e.find("did you mean 'report'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(wrong_type_has_location) {
  std::string e = spec_error("name: t\n" + model_line() + kStages, {"stages.teacher.m=abc"});
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.find("stages.teacher.m") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(dangling_reference_has_location) {
  std::string text = "name: t\n" + model_line() +
                     "stages:\n"
                     "  teacher: {kind: teacher, schedule: {kind: polynomial, num_steps: 4}, seeds: 0-7}\n"
                     "  amed: {kind: train_amed, teacher: teachr}\n";
  std::string e = spec_error(text);
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.find("t.yaml:5:") != std::string::npos);
  BOOST_TEST(e.find("'teachr'") != std::string::npos);
  BOOST_TEST(e.find("did you mean 'teacher'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cycle_is_reported) {
  std::string text = "name: t\n" + model_line() +
                     "stages:\n"
                     "  a: {kind: ok, after: [b]}\n"
                     "  b: {kind: ok, after: [a]}\n";
  std::string e = test::error_message(
      [&] { load_plan_string(text, "t.yaml", {}, {test_kind("ok", false)}); });
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.find("cycle") != std::string::npos);
  BOOST_TEST(e.find("t.yaml:") != std::string::npos);
  BOOST_TEST(e.find("a -> b -> a") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sweep_shares_upstream_stages) {
  std::string text = "name: t\n" + model_line() + kStages + "sweep: {stages.amed.scale_dir: [0.01, 0.02, 0.03]}\n";
  Plan p = load_plan_string(text, "t.yaml", {}, stage_kinds());
  std::map<std::string, int> count;
  for (const auto& j : p.jobs) count[j.stage]++;
  BOOST_TEST(count["teacher"] == 1);
  BOOST_TEST(count["amed"] == 3);
  BOOST_TEST(count["eval"] == 3);
  BOOST_TEST(count["report"] == 1);
  BOOST_TEST(p.jobs.back().deps.size() == 3u);  // the report gathers every eval variant
  for (const auto& j : p.jobs)
    if (j.stage == "amed") {
      BOOST_TEST(j.deps.size() == 1u);
      BOOST_TEST(p.jobs[j.deps[0]].stage == "teacher");
    }
  compute_keys(p);
  std::set<std::string> keys;
  for (const auto& j : p.jobs) keys.insert(j.key.hex);
  BOOST_TEST(keys.size() == p.jobs.size());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx

namespace dsx {

BOOST_AUTO_TEST_SUITE(graph)

BOOST_AUTO_TEST_CASE(reference_to_wrong_kind_is_a_spec_error) {
  std::string text = "name: t\n" + model_line() +
                     "stages:\n"
                     "  teacher: {kind: teacher, schedule: {kind: polynomial, num_steps: 4}, seeds: 0-7}\n"
                     "  eval: {kind: evaluate, predictors: [teacher], seeds: 0-3}\n";
  std::string e = spec_error(text);
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.find("t.yaml:5:") != std::string::npos);
  BOOST_TEST(e.find("a train_amed stage is needed") != std::string::npos);
}

// A failing stage cancels its dependants only; every failure is reported.
BOOST_AUTO_TEST_CASE(failure_cancels_dependants_only) {
  std::vector<StageKind> kinds = {test_kind("ok", false), test_kind("boom", true), test_kind("boom2", true)};
  std::string text = "name: t\n" + model_line() +
                     "stages:\n"
                     "  a: {kind: ok}\n"
                     "  b: {kind: boom, after: [a]}\n"
                     "  c: {kind: ok, after: [b]}\n"
                     "  d: {kind: ok, after: [a]}\n"
                     "  e: {kind: boom2}\n";
  Plan p = load_plan_string(text, "t.yaml", {}, kinds);
  compute_keys(p);
  test::TempDir tmp("dsx_graph");
  cache::Cache store(tmp.file("cache"));
  std::vector<JobStatus> st = run_graph(p, store, {}, nullptr, [](const std::string&) {});
  std::map<std::string, std::string> by;
  for (size_t i = 0; i < p.jobs.size(); ++i) by[p.jobs[i].label] = st[i].state;
  BOOST_TEST(by["a"] == "RUN");
  BOOST_TEST(by["b"] == "FAILED");
  BOOST_TEST(by["c"] == "CANCELLED");
  BOOST_TEST(by["d"] == "RUN");
  BOOST_TEST(by["e"] == "FAILED");
  // A second run hits what succeeded.
  st = run_graph(p, store, {}, nullptr, [](const std::string&) {});
  for (size_t i = 0; i < p.jobs.size(); ++i) by[p.jobs[i].label] = st[i].state;
  BOOST_TEST(by["a"] == "HIT");
  BOOST_TEST(by["d"] == "HIT");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
