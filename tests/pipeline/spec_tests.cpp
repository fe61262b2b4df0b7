// Spec validation (file:line:col, did-you-mean, dangling references, cycles), includes, grid and zip sweep
// expansion, and the `dsx run` options that only read the spec (--print-config, --threads).
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

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

namespace fs = std::filesystem;

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

const Job& job_labelled(const Plan& p, const std::string& label) {
  for (const auto& j : p.jobs)
    if (j.label == label) return j;
  BOOST_FAIL("no job labelled " + label);
  return p.jobs.front();
}

std::map<std::string, int> jobs_per_stage(const Plan& p) {
  std::map<std::string, int> count;
  for (const auto& j : p.jobs) count[j.stage]++;
  return count;
}

StageKind test_kind(const std::string& name, bool throws) {
  StageKind k;
  k.name = name;
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext&) {
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

// Like a compiler: every stage is checked before anything is reported, and each error keeps its location.
BOOST_AUTO_TEST_CASE(every_spec_error_is_reported_at_once) {
  std::string text =
      "name: t\n" + model_line() +
      "stages:\n"
      "  teacher: {kind: teacher, schedule: {kind: polynomial, num_steps: 4}, seeds: 0-7, bach: 4, wrkers: 2}\n"
      "  amed: {kind: train_amed, teacher: teachr}\n"
      "  eval: {kind: evaluate, seeds: 0-3, methods: [{solver: {name: eulr}}]}\n"
      "  r: {kind: reprt, inputs: [eval]}\n";
  std::string e = spec_error(text);
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.rfind("t.yaml:4:", 0) == 0u);  // in the order found: the first stage first
  for (const char* want :
       {"'stages.teacher.bach' (did you mean 'batch'?)", "'stages.teacher.wrkers' (did you mean 'workers'?)",
        "t.yaml:5:", "'teachr'", "t.yaml:6:", "'eulr'", "t.yaml:7:", "did you mean 'report'", "(5 errors)"})
    BOOST_TEST(e.find(want) != std::string::npos, want);
  // One error reads exactly as if it were alone: no count line.
  BOOST_TEST(spec_error("name: t\n" + model_line() + "stages:\n  r: {kind: reprt, inputs: [r]}\n").find("errors)") ==
             std::string::npos);
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
  std::string e = test::error_message([&] { load_plan_string(text, "t.yaml", {}, {test_kind("ok", false)}); });
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

BOOST_AUTO_TEST_SUITE(spec_include)

// defaults < include (a later include over an earlier one) < the spec < --set, checked on resolved params.
BOOST_AUTO_TEST_CASE(merge_order_defaults_includes_spec_set) {
  test::TempDir tmp("dsx_spec");
  write_file(tmp.file("first.yaml"),
             model_line() +
                 "stages:\n"
                 "  teacher: {kind: teacher, schedule: {kind: time_uniform, num_steps: 4}, seeds: [0, 1, 2, 3],\n"
                 "            batch: 64, m: 2}\n"
                 "  amed: {kind: train_amed, teacher: teacher, lr: 0.001, scale_dir: 0.05}\n");
  write_file(tmp.file("second.yaml"), "stages: {teacher: {batch: 32}}\n");
  write_file(tmp.file("spec.yaml"),
             "name: layered\n"
             "include: [first.yaml, second.yaml]\n"
             "stages:\n"
             "  teacher: {m: 3, seeds: [5, 6]}\n");
  Plan p = load_plan(tmp.file("spec.yaml"), SpecOptions{{"stages.amed.lr=0.002"}, false}, stage_kinds());
  BOOST_REQUIRE_EQUAL(p.jobs.size(), 2u);
  const json& teacher = job_labelled(p, "teacher").params;
  const json& amed = job_labelled(p, "amed").params;
  BOOST_TEST(teacher["batch"].get<int>() == 32);  // second include over first
  BOOST_TEST(teacher["m"].get<int>() == 3);       // spec over include
  BOOST_TEST(teacher["seeds"].get<int>() == 2);   // a list is replaced whole, not merged by position
  BOOST_TEST(teacher["first_seed"].get<int>() == 5);
  BOOST_TEST(teacher["schedule"]["rho"].get<double>() == 7.0);  // built-in default under everything
  BOOST_TEST(amed["lr"].get<double>() == 0.002);                // --set over include
  BOOST_TEST(amed["scale_dir"].get<double>() == 0.05);          // include over default
  BOOST_TEST(amed["batch"].get<int>() == 128);                  // default
  BOOST_TEST(p.name == "layered");
  // Values keep the location of the file that wrote them.
  BOOST_TEST(p.source->where(p.source->root()["stages"]["teacher"]["batch"], "stages.teacher.batch") ==
             tmp.file("second.yaml") + ":1:27");
  BOOST_TEST(p.source->where(p.source->root()["stages"]["teacher"]["m"], "stages.teacher.m") ==
             tmp.file("spec.yaml") + ":4:16");
}

// A sweep builds one document per point, but from file texts read once: each of the spec and its includes
// is read from disk once, whatever the number of points.
BOOST_AUTO_TEST_CASE(sweep_reads_each_file_once) {
  test::TempDir tmp("dsx_spec");
  write_file(tmp.file("model.yaml"), model_line());
  write_file(tmp.file("stages.yaml"),
             "stages:\n"
             "  teacher: {kind: teacher, schedule: {kind: time_uniform, num_steps: 3}, seeds: 0-3}\n"
             "  amed: {kind: train_amed, teacher: teacher}\n");
  write_file(tmp.file("spec.yaml"),
             "name: once\ninclude: [model.yaml, stages.yaml]\n"
             "sweep: {stages.amed.scale_dir: [0.01, 0.02, 0.03], stages.amed.lr: [0.001, 0.002]}\n");
  Plan p = load_plan(tmp.file("spec.yaml"), {}, stage_kinds());
  size_t amed_jobs = 0;
  for (const auto& j : p.jobs) amed_jobs += j.kind->name == "train_amed";
  BOOST_TEST(amed_jobs == 6u);  // six points were built
  BOOST_TEST(p.files_read == 3);
}

// An include of an include, each relative to its own directory; a relative path written in an included
// file is relative to that file.
BOOST_AUTO_TEST_CASE(nested_include_and_relative_paths) {
  test::TempDir tmp("dsx_spec");
  fs::create_directories(tmp.path / "data");
  fs::copy_file(std::string(DSX_SOURCE_DIR) + "/data/gmm/mix8_3x8x8.h5", tmp.path / "data" / "x.h5");
  write_file(tmp.file("configs/common/model.yaml"), "model: {kind: gaussian_mixture, file: ../../data/x.h5}\n");
  write_file(tmp.file("configs/common/stages.yaml"),
             "include: model.yaml\n"
             "stages:\n"
             "  teacher: {kind: teacher, schedule: {kind: time_uniform, num_steps: 4}, seeds: 0-7}\n");
  write_file(tmp.file("configs/run.yaml"), "name: nested\ninclude: common/stages.yaml\n");
  Plan p = load_plan(tmp.file("configs/run.yaml"), {}, stage_kinds());
  BOOST_REQUIRE_EQUAL(p.jobs.size(), 1u);
  const YamlSource& src = *p.source;
  BOOST_TEST(src.origin("model.file") == tmp.file("configs/common/model.yaml"));
  BOOST_TEST(src.origin("stages.teacher.seeds") == tmp.file("configs/common/stages.yaml"));
  BOOST_TEST(src.origin("name") == tmp.file("configs/run.yaml"));
  BOOST_TEST(src.resolve_path("../../data/x.h5", "model.file") == tmp.file("data/x.h5"));
  BOOST_REQUIRE_EQUAL(src.included().size(), 2u);
  BOOST_TEST(src.included()[0] == tmp.file("configs/common/stages.yaml"));
  BOOST_TEST(src.included()[1] == tmp.file("configs/common/model.yaml"));
  // The same model through an absolute path: same content, same fingerprint.
  Plan direct = load_plan_string("name: direct\n" + model_line() +
                                     "stages:\n"
                                     "  teacher: {kind: teacher, schedule: {kind: time_uniform, num_steps: 4}, "
                                     "seeds: 0-7}\n",
                                 "t.yaml", {}, stage_kinds());
  BOOST_TEST(p.jobs[0].model_fingerprint == direct.jobs[0].model_fingerprint);
  BOOST_TEST(p.jobs[0].params == direct.jobs[0].params);
}

// Sweep and light values are written in the spec: relative paths resolve against that file (not the working
// directory, as --set values do) and errors point into the sweep list.
BOOST_AUTO_TEST_CASE(sweep_and_light_values_keep_their_file) {
  test::TempDir tmp("dsx_spec");
  fs::create_directories(tmp.path / "data");
  fs::copy_file(std::string(DSX_SOURCE_DIR) + "/data/gmm/mix8_3x8x8.h5", tmp.path / "data" / "x.h5");
  write_file(tmp.file("configs/run.yaml"),
             "name: swept\nmodel: {kind: amed_toy}\n"
             "stages:\n  eval: {kind: evaluate, seeds: 0-3, methods: [{solver: {name: euler}}], nfe: [3]}\n"
             "sweep:\n  model: [{kind: gaussian_mixture, file: ../data/x.h5}, {kind: amed_toy}]\n"
             "light:\n  model: {kind: gaussian_mixture, file: ../data/x.h5}\n");
  Plan p = load_plan(tmp.file("configs/run.yaml"), {}, stage_kinds());
  BOOST_TEST(p.jobs.size() == 2u);
  BOOST_TEST(p.jobs[0].model_fingerprint != p.jobs[1].model_fingerprint);
  Plan light = load_plan(tmp.file("configs/run.yaml"), SpecOptions{{"sweep={}"}, true}, stage_kinds());
  BOOST_REQUIRE_EQUAL(light.jobs.size(), 1u);
  BOOST_TEST(light.jobs[0].model_fingerprint == p.jobs[0].model_fingerprint);
  // A bad value inside the sweep list is reported at its own line and column.
  write_file(tmp.file("configs/bad.yaml"),
             "name: bad\nmodel: {kind: amed_toy}\n"
             "stages:\n  eval: {kind: evaluate, seeds: 0-3, methods: [{solver: {name: euler}}]}\n"
             "sweep:\n  stages.eval.nfe: [[3], [zero]]\n");
  std::string e = test::error_message([&] { load_plan(tmp.file("configs/bad.yaml"), {}, stage_kinds()); });
  BOOST_TEST(e.find(tmp.file("configs/bad.yaml") + ":6:") == 0u, e);
}

BOOST_AUTO_TEST_CASE(include_cycle_is_an_error) {
  test::TempDir tmp("dsx_spec");
  write_file(tmp.file("a.yaml"), "name: a\ninclude: b.yaml\n" + model_line());
  write_file(tmp.file("b.yaml"), "include: [a.yaml]\n");
  std::string e = test::error_message([&] { load_plan(tmp.file("a.yaml"), {}, stage_kinds()); });
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.rfind(tmp.file("b.yaml") + ":1:11: include 'a.yaml' makes a cycle: ", 0) == 0u);
  BOOST_TEST(e.find(tmp.file("a.yaml") + " -> " + tmp.file("b.yaml") + " -> " + tmp.file("a.yaml")) !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_include_has_location) {
  test::TempDir tmp("dsx_spec");
  write_file(tmp.file("common.yaml"), model_line());
  write_file(tmp.file("spec.yaml"), "name: m\ninclude:\n  - common.yaml\n  - sub/missing.yaml\n");
  std::string e = test::error_message([&] { load_plan(tmp.file("spec.yaml"), {}, stage_kinds()); });
  BOOST_TEST_INFO(e);
  BOOST_TEST(e == tmp.file("spec.yaml") + ":4:5: include 'sub/missing.yaml': no such file (" +
                      tmp.file("sub/missing.yaml") + ")");
}

BOOST_AUTO_TEST_CASE(unknown_key_in_include_has_its_location) {
  test::TempDir tmp("dsx_spec");
  write_file(tmp.file("common.yaml"),
             model_line() +
                 "stages:\n"
                 "  teacher: {kind: teacher, schedule: {kind: polynomial, num_steps: 4}, seedz: 0-7}\n");
  write_file(tmp.file("spec.yaml"), "name: u\ninclude: common.yaml\nprecision: float64\n");
  std::string e = test::error_message([&] { load_plan(tmp.file("spec.yaml"), {}, stage_kinds()); });
  BOOST_TEST_INFO(e);
  BOOST_TEST(e.rfind(tmp.file("common.yaml") + ":3:72: unknown key 'stages.teacher.seedz'", 0) == 0u);
  BOOST_TEST(e.find("did you mean 'seeds'") != std::string::npos);
  // An unknown top-level key of the spec itself still names the spec.
  write_file(tmp.file("spec.yaml"), "name: u\ninclude: common.yaml\nprecison: float64\n");
  e = test::error_message([&] { load_plan(tmp.file("spec.yaml"), {}, stage_kinds()); });
  BOOST_TEST(e.rfind(tmp.file("spec.yaml") + ":3:1: unknown key 'precison' (did you mean 'precision'?)", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(include_cannot_come_from_set) {
  std::string e = spec_error("name: t\n" + model_line() + kStages, {"include=other.yaml"});
  BOOST_TEST(e == "--set include=other.yaml: 'include' is only read from spec files; write it in the spec");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(spec_zip)

BOOST_AUTO_TEST_CASE(zip_walks_lists_together_and_shares_upstream) {
  std::string text = "name: t\n" + model_line() + kStages +
                     "sweep:\n"
                     "  zip:\n"
                     "    stages.amed.scale_dir: [0.01, 0.02, 0.03]\n"
                     "    stages.amed.lr: [0.001, 0.002, 0.003]\n";
  Plan p = load_plan_string(text, "t.yaml", {}, stage_kinds());
  std::map<std::string, int> count = jobs_per_stage(p);
  BOOST_TEST(p.jobs.size() == 8u);  // not 1 + 9 + 9 + 1: a zip is not a grid
  BOOST_TEST(count["teacher"] == 1);
  BOOST_TEST(count["amed"] == 3);
  BOOST_TEST(count["eval"] == 3);
  BOOST_TEST(count["report"] == 1);
  const Job& teacher = job_labelled(p, "teacher");
  for (const char* point : {"scale_dir=0.01,lr=0.001", "scale_dir=0.02,lr=0.002", "scale_dir=0.03,lr=0.003"}) {
    const Job& amed = job_labelled(p, std::string("amed[") + point + "]");
    BOOST_TEST(amed.point == point);
    BOOST_TEST(amed.params["lr"].get<double>() * 10 == amed.params["scale_dir"].get<double>(),
               boost::test_tools::tolerance(1e-12));
    BOOST_REQUIRE_EQUAL(amed.deps.size(), 1u);
    BOOST_TEST(&p.jobs[amed.deps[0]] == &teacher);  // every point shares the one teacher job
    const Job& eval = job_labelled(p, std::string("eval[") + point + "]");
    BOOST_TEST(p.jobs[eval.deps.at(0)].label == amed.label);
  }
  BOOST_TEST(p.jobs.back().deps.size() == 3u);
}

BOOST_AUTO_TEST_CASE(zip_length_mismatch_has_location) {
  std::string text = "name: t\n" + model_line() + kStages +  // lines 1-7
                     "sweep:\n"
                     "  zip:\n"
                     "    stages.amed.scale_dir: [0.01, 0.02, 0.03]\n"
                     "    stages.amed.lr: [0.001, 0.002]\n";
  std::string e = spec_error(text);
  BOOST_TEST(e ==
             "t.yaml:11:21: sweep.zip: the lists of a zip group are walked together and must have equal "
             "lengths; 'stages.amed.scale_dir' has 3 values, 'stages.amed.lr' has 2");
  // In a list of groups the message names the group.
  e = spec_error("name: t\n" + model_line() + kStages +
                 "sweep: {zip: [{stages.amed.lr: [0.1]}, {stages.teacher.m: [1, 2], stages.amed.scale_dir: [0.1]}]}\n");
  BOOST_TEST(e.rfind("t.yaml:8:", 0) == 0u);
  BOOST_TEST(e.find("sweep.zip[1]: the lists") != std::string::npos);
  BOOST_TEST(e.find("'stages.teacher.m' has 2 values, 'stages.amed.scale_dir' has 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(key_swept_twice_is_an_error) {
  std::string e = spec_error("name: t\n" + model_line() + kStages +
                             "sweep:\n"
                             "  stages.amed.lr: [0.1, 0.2]\n"
                             "  zip: {stages.amed.lr: [0.3, 0.4], stages.amed.scale_dir: [0.1, 0.2]}\n");
  BOOST_TEST(e == "t.yaml:10:25: 'stages.amed.lr' is swept twice (also at t.yaml:9:19)");
}

// A grid key and two zip groups: 2 × 2 × 2 points; jobs are shared wherever their inputs agree.
BOOST_AUTO_TEST_CASE(grid_crossed_with_zip_groups) {
  std::string text = "name: t\n" + model_line() + kStages +
                     "sweep:\n"
                     "  stages.teacher.m: [1, 2]\n"
                     "  zip:\n"
                     "    - {stages.amed.scale_dir: [0.01, 0.02], stages.amed.lr: [0.001, 0.002]}\n"
                     "    - {stages.teacher.seeds: [0-7, 0-15], stages.eval.seeds: [100-103, 200-203]}\n";
  Plan p = load_plan_string(text, "t.yaml", {}, stage_kinds());
  std::map<std::string, int> count = jobs_per_stage(p);
  BOOST_TEST(count["teacher"] == 4);  // m × teacher seeds
  BOOST_TEST(count["amed"] == 8);
  BOOST_TEST(count["eval"] == 8);
  BOOST_TEST(count["report"] == 1);
  BOOST_TEST(p.jobs.size() == 21u);
  // Every key of the point, by its shortest unambiguous suffix (two keys end in "seeds").
  const std::string point = "m=2,scale_dir=0.02,lr=0.002,teacher.seeds=0-15,eval.seeds=200-203";
  const Job& eval = job_labelled(p, "eval[" + point + "]");
  BOOST_TEST(eval.params["first_seed"].get<int>() == 200);
  const Job& amed = p.jobs[eval.deps.at(0)];
  BOOST_TEST(amed.params["lr"].get<double>() == 0.002);
  const Job& teacher = p.jobs[amed.deps.at(0)];
  BOOST_TEST(teacher.params["m"].get<int>() == 2);
  BOOST_TEST(teacher.params["seeds"].get<int>() == 16);
  BOOST_TEST(teacher.label == "teacher[m=2,scale_dir=0.01,lr=0.001,teacher.seeds=0-15,eval.seeds=200-203]");
  std::set<int> teachers_of_amed;
  for (const auto& j : p.jobs)
    if (j.stage == "amed") teachers_of_amed.insert(j.deps.at(0));
  BOOST_TEST(teachers_of_amed.size() == 4u);
  // One resolved document per point, then the jobs.
  size_t docs = 0;
  for (size_t at = 0; (at = p.resolved_yaml.find("# sweep point: ", at)) != std::string::npos; ++at) ++docs;
  BOOST_TEST(docs == 8u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(run_cli)

const std::string kTinyStages =
    "stages:\n"
    "  teacher: {kind: teacher, schedule: {kind: time_uniform, num_steps: 3}, seeds: 0-3}\n"
    "  amed: {kind: train_amed, teacher: teacher}\n";

// --explain prints the schema the stage reads with: each key's type and range, default and help; the reader
// applies that default (m: 1 in --print-config) and that range (m: -1 is an error naming it).
BOOST_AUTO_TEST_CASE(explain_prints_the_schema_the_stage_applies) {
  auto r = test::run_dsx("run --explain teacher");
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  BOOST_TEST(r.out.find("| m | an integer in [0, 1000] | 1 |") != std::string::npos);
  BOOST_TEST(r.out.find("| seeds | a seed range") != std::string::npos);
  BOOST_TEST(r.out.find("(required)") != std::string::npos);
  auto all = test::run_dsx("run --explain all");
  for (const char* key :
       {"| data_samples | an integer in [2, ", "| lr | a number in (0, ", "| inputs | a list of evaluate stage names"})
    BOOST_TEST(all.out.find(key) != std::string::npos, key);
  // Model kinds and schedule kinds are explained from the schemas their readers apply.
  auto sched = test::run_dsx("run --explain schedule.time_uniform");
  BOOST_TEST(sched.out.find("| rho | a number in (0, 1000] | 7 |") != std::string::npos, sched.out);
  BOOST_TEST(sched.out.find("| eps_s | a number in (0, 1) | 0.001 |") != std::string::npos, sched.out);
  BOOST_TEST(sched.out.find("| num_steps | an integer in [2, 100000] | – |") != std::string::npos, sched.out);
  auto model = test::run_dsx("run --explain model.gaussian_mixture");
  BOOST_TEST(model.out.find("| sigma_max | a number in (0, 1000000] | 80 |") != std::string::npos, model.out);
  BOOST_TEST(all.out.find("schedule.explicit:") != std::string::npos);
  BOOST_TEST(all.out.find("model.amed_toy:") != std::string::npos);
  auto bad_model = test::run_dsx("run --explain model.gausian_mixture");
  BOOST_TEST(bad_model.out.find("did you mean 'model.gaussian_mixture'") != std::string::npos, bad_model.out);
  auto bad = test::run_dsx("run --explain teachr");
  BOOST_TEST(bad.code == 2);
  BOOST_TEST(bad.out.find("did you mean 'teacher'") != std::string::npos, bad.out);
  std::string e = spec_error("name: t\n" + model_line() + kTinyStages, {"stages.teacher.m=-1"});
  BOOST_TEST(e.find("stages.teacher.m = '-1' is invalid: expected an integer in [0, 1000]") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(print_config_resolves_and_runs_nothing) {
  test::TempDir tmp("dsx_spec");
  write_file(tmp.file("common.yaml"), model_line() + kTinyStages);
  write_file(tmp.file("spec.yaml"), "name: pc\ninclude: common.yaml\nsweep: {stages.amed.scale_dir: [0.01, 0.02]}\n");
  const std::string dirs = " --cache-dir " + tmp.file("cache") + " --runs-dir " + tmp.file("runs");
  auto r = test::run_dsx("run " + tmp.file("spec.yaml") + " --print-config --set stages.amed.lr=0.004" + dirs);
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  BOOST_TEST(r.out.rfind("# " + tmp.file("spec.yaml") + " resolved; included: " + tmp.file("common.yaml") +
                             "; --set stages.amed.lr=0.004\n",
                         0) == 0u);
  BOOST_TEST(r.out.find("# sweep point: scale_dir=0.02\n") != std::string::npos);
  BOOST_TEST(r.out.find("amed: {kind: train_amed, teacher: teacher, lr: 0.004, scale_dir: 0.02}") != std::string::npos);
  BOOST_TEST(r.out.find("\njobs:\n") != std::string::npos);
  BOOST_TEST(r.out.find("  amed[scale_dir=0.01]:\n    kind: train_amed\n    sweep_point: scale_dir=0.01\n"
                        "    inputs: [teacher]\n") != std::string::npos);
  // Defaults never written anywhere: the AMED student's max_order and the teacher's solver and batch.
  BOOST_TEST(r.out.find("      max_order: 3\n") != std::string::npos);
  BOOST_TEST(r.out.find("      solver: heun\n") != std::string::npos);
  BOOST_TEST(r.out.find("      batch: 256\n") != std::string::npos);
  BOOST_TEST(!fs::exists(tmp.file("cache")));
  BOOST_TEST(!fs::exists(tmp.file("runs")));
  // What a real run records as resolved.yaml is the same text.
  auto run = test::run_dsx("run " + tmp.file("spec.yaml") + " --set stages.amed.lr=0.004" + dirs);
  BOOST_TEST_INFO(run.out);
  BOOST_REQUIRE_EQUAL(run.code, 0);
  std::vector<fs::path> runs;
  for (const auto& e : fs::directory_iterator(tmp.file("runs"))) runs.push_back(e.path());
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(slurp(runs[0] / "resolved.yaml") == r.out);
}

BOOST_AUTO_TEST_CASE(threads_after_the_subcommand) {
  test::TempDir tmp("dsx_spec");
  write_file(tmp.file("spec.yaml"), "name: th\n" + model_line() + kTinyStages);
  const std::string args = tmp.file("spec.yaml") + " --dry-run --cache-dir " + tmp.file("cache");
  for (const std::string& cmd : {"run " + args + " --threads 1", "--threads 1 run " + args}) {
    auto r = test::run_dsx(cmd);
    BOOST_TEST_INFO(cmd << "\n" << r.out);
    BOOST_TEST(r.code == 0);
    BOOST_TEST(r.out.rfind("RUN    teacher ", 0) == 0u);
    BOOST_TEST(r.out.find("\nRUN    amed ") != std::string::npos);
  }
  auto bad = test::run_dsx("run " + args + " --threads -2");
  BOOST_TEST(bad.code != 0);
  BOOST_TEST(bad.out.find("--threads") != std::string::npos);
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
  BOOST_TEST(e.find("a train_amed or train_epd stage is needed") != std::string::npos);
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
  for (size_t i = 0; i < p.jobs.size(); ++i) by[p.jobs[i].label] = to_string(st[i].state);
  BOOST_TEST(by["a"] == "RUN");
  BOOST_TEST(by["b"] == "FAILED");
  BOOST_TEST(by["c"] == "CANCELLED");
  BOOST_TEST(by["d"] == "RUN");
  BOOST_TEST(by["e"] == "FAILED");
  // A second run hits what succeeded.
  st = run_graph(p, store, {}, nullptr, [](const std::string&) {});
  for (size_t i = 0; i < p.jobs.size(); ++i) by[p.jobs[i].label] = to_string(st[i].state);
  BOOST_TEST(by["a"] == "HIT");
  BOOST_TEST(by["d"] == "HIT");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
