// `dsx sample` end to end through the real binary: results, NFE, and every bad-input case of the contract
// (clear message with location, non-zero exit, nothing left at the output path).
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/noise.h"
#include "models/gaussian_mixture.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/scratch.h"

namespace dsx {
namespace fs = std::filesystem;
using test::Run;
using test::run_dsx;

namespace {

// A directory with a 4-dimensional 3-component mixture, latents for 5 samples and a config template.
struct Workspace {
  fs::path dir;
  Workspace() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("dsx_cli_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir);
    GaussianMixture::random(3, {4}, 7)->save_h5(file("gmm.h5"));
    write_latents("z.h5", seeded_noise({0, 1, 2, 3, 4}, {4}, at::TensorOptions().dtype(at::kDouble)));
  }
  ~Workspace() { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  void write_latents(const std::string& name, const at::Tensor& z, const std::string& dataset = "latents") const {
    h5::File f = h5::File::create(file(name));
    h5::write_tensor(f, dataset, z);
  }
  std::string config(const std::string& body, const std::string& name = "c.yaml") const {
    std::ofstream(file(name)) << body;
    return file(name);
  }
  bool clean_output() const {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind("out.h5", 0) == 0) return false;
    return true;
  }
};

const std::string kGood = R"(model:
  kind: gaussian_mixture
  file: gmm.h5
latents:
  file: z.h5
schedule:
  kind: polynomial
  num_steps: 7
  sigma_min: 0.002
  sigma_max: 80
  rho: 7
solver:
  name: euler
precision: float64
output: out.h5
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "template lacks '" << from << "'");
  return s.replace(at, from.size(), to);
}

void expect_error(const Workspace& ws, const std::string& args, const std::vector<std::string>& fragments) {
  Run r = run_dsx(args);
  BOOST_TEST_CONTEXT(args << "\n" << r.out) {
    BOOST_TEST(r.code != 0);
    for (const auto& f : fragments) BOOST_TEST(r.out.find(f) != std::string::npos, "missing '" << f << "'");
    BOOST_TEST(ws.clean_output(), "a file was left at the output path");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sample_command)

BOOST_AUTO_TEST_CASE(writes_samples_with_nfe_and_reports_rmse) {
  Workspace ws;
  std::string cfg = ws.config(kGood);
  for (auto [solver, nfe] : std::vector<std::pair<std::string, int>>{{"euler", 6}, {"heun", 12}}) {
    Run r = run_dsx("sample " + cfg + " --set solver.name=" + solver);
    BOOST_TEST_CONTEXT(r.out) {
      BOOST_REQUIRE_EQUAL(r.code, 0);
      BOOST_TEST(r.out.find("nfe " + std::to_string(nfe)) != std::string::npos);
      BOOST_TEST(r.out.find("rmse_vs_exact") != std::string::npos);
      h5::File f = h5::File::open(ws.file("out.h5"));
      at::Tensor x = h5::read_tensor(f, "samples");
      BOOST_TEST((x.sizes() == at::IntArrayRef{5, 4}));
      BOOST_TEST(f.attr_int("nfe") == nfe);
      BOOST_TEST(at::isfinite(x).all().item<bool>());
      // The reported RMSE is the distance of the written samples to the exact ODE solution from 80·z.
      auto gmm = GaussianMixture::load_h5(ws.file("gmm.h5"));
      at::Tensor z = h5::read_tensor(h5::File::open(ws.file("z.h5")), "latents");
      double expected = (x - gmm->ode_solution(80.0 * z, 80.0, 0.002)).square().mean().sqrt().item<double>();
      BOOST_TEST(f.attr_double("rmse") == expected, boost::test_tools::tolerance(1e-12));
    }
  }
  // Converges: Heun with 200 intervals is within 1e-4 of the exact solution.
  Run fine = run_dsx("sample " + cfg + " --set solver.name=heun --set schedule.num_steps=201");
  BOOST_REQUIRE_MESSAGE(fine.code == 0, fine.out);
  BOOST_TEST(h5::File::open(ws.file("out.h5")).attr_double("rmse") < 1e-4);
  // Same config with per-seed latents instead of a file.
  Run r = run_dsx("sample " + cfg + " --set 'latents={seeds: 0-2}'");
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.out);
  BOOST_TEST(h5::read_tensor(h5::File::open(ws.file("out.h5")), "samples").size(0) == 3);
}

BOOST_AUTO_TEST_CASE(spec_errors_carry_file_line_col) {
  Workspace ws;
  expect_error(ws, "sample " + ws.config(replace(kGood, "solver:", "solvr:")),
               {"c.yaml:12:1", "unknown key 'solvr'", "did you mean 'solver'"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "num_steps: 7", "num_steps: seven")),
               {"c.yaml:8:14", "schedule.num_steps = 'seven' is invalid: expected an integer in [2, 100000]"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "rho: 7", "rho: 7\n  rhoo: 3")),
               {"c.yaml:12:3", "unknown key 'schedule.rhoo'", "did you mean 'rho'"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "name: euler", "name: euler\n  max_order: 2")),
               {"c.yaml:14:14", "unknown option 'solver.max_order'"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "precision: float64", "precision: half")),
               {"c.yaml:14:12", "precision = 'half'"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "model:\n", "model: [\n")), {"c.yaml:", "YAML syntax error"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "output: out.h5\n", "")), {"missing required key 'output'"});
  expect_error(ws, "sample " + ws.config(kGood) + " --set schedule.num_steps=abc",
               {"--set schedule.num_steps=abc", "expected an integer"});
  // Each schedule kind takes its own keys (with their schema's ranges): another kind's key is not ignored.
  expect_error(ws, "sample " + ws.config(replace(kGood, "kind: polynomial", "kind: logsnr")),
               {"c.yaml:11:8", "'schedule.rho' is a key of schedule kind polynomial, not of logsnr",
                "kind, num_steps, sigma_min, sigma_max"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "rho: 7", "rho: 0")),
               {"c.yaml:11:8", "schedule.rho = '0' is invalid: expected a number in (0, 1000]"});
  expect_error(
      ws, "sample " + ws.config(replace(replace(kGood, "kind: polynomial", "kind: nsr\n  k: -1"), "  rho: 7\n", "")),
      {"schedule.k = '-1' is invalid: expected a number in [0, 1000000]"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "kind: polynomial", "kind: polynomal")),
               {"c.yaml:7:9", "did you mean 'polynomial'"});
  // Model kinds read through their schemas too.
  expect_error(ws, "sample " + ws.config(replace(kGood, "file: gmm.h5", "file: gmm.h5\n  sigma_max: -3")),
               {"c.yaml:4:14", "model.sigma_max = '-3' is invalid: expected a number in (0, 1000000]"});
}

BOOST_AUTO_TEST_CASE(bad_grids) {
  Workspace ws;
  expect_error(ws, "sample " + ws.config(replace(kGood, "num_steps: 7", "num_steps: 1")),
               {"c.yaml:8:14", "num_steps = '1' is invalid: expected an integer in [2, 100000]"});
  std::string expl = replace(kGood, "kind: polynomial", "kind: explicit\n  sigmas: [80, 10, 10, 0.002]");
  expl = replace(replace(expl, "  num_steps: 7\n", ""), "  rho: 7\n", "");
  expect_error(ws, "sample " + ws.config(expl), {"c.yaml:8:11", "strictly decreasing"});
  expect_error(ws, "sample " + ws.config(replace(expl, "[80, 10, 10, 0.002]", "[80, 10, -1]")),
               {"c.yaml:8:11", "positive"});
  Run ok = run_dsx("sample " + ws.config(replace(expl, "[80, 10, 10, 0.002]", "[80, 10, 1, 0.002]")));
  BOOST_TEST(ok.code == 0, ok.out);
  BOOST_TEST(ok.out.find("nfe 3") != std::string::npos, ok.out);
}

BOOST_AUTO_TEST_CASE(missing_files_datasets_and_shapes) {
  Workspace ws;
  expect_error(ws, "sample " + ws.config(replace(kGood, "file: gmm.h5", "file: nope.h5")),
               {"nope.h5", "does not exist"});
  expect_error(ws, "sample " + ws.config(replace(kGood, "file: z.h5", "file: nope.h5")), {"latents.file", "nope.h5"});
  ws.write_latents("wrong_name.h5", at::randn({5, 4}, at::kDouble), "noise");
  expect_error(ws, "sample " + ws.config(replace(kGood, "file: z.h5", "file: wrong_name.h5")),
               {"wrong_name.h5", "dataset 'latents' not found"});
  ws.write_latents("wrong_shape.h5", at::randn({5, 6}, at::kDouble));
  expect_error(ws, "sample " + ws.config(replace(kGood, "file: z.h5", "file: wrong_shape.h5")),
               {"wrong_shape.h5", "shape [5, 6]", "[B, 4]"});
  {
    h5::File f = h5::File::create(ws.file("no_stds.h5"));
    h5::write_tensor(f, "means", at::zeros({2, 4}, at::kDouble));
    h5::write_tensor(f, "weights", at::ones({2}, at::kDouble));
  }
  expect_error(ws, "sample " + ws.config(replace(kGood, "file: gmm.h5", "file: no_stds.h5")),
               {"no_stds.h5", "dataset 'stds' not found"});
}

BOOST_AUTO_TEST_CASE(non_finite_model_output_is_an_error) {
  Workspace ws;
  // 80 × 1e37 overflows float32: the model sees Inf and returns NaN.
  ws.write_latents("huge.h5", at::full({5, 4}, 1e37, at::kDouble));
  std::string cfg = replace(replace(kGood, "file: z.h5", "file: huge.h5"), "precision: float64", "precision: float32");
  expect_error(ws, "sample " + ws.config(cfg), {"NaN/Inf", "gaussian_mixture"});
}

BOOST_AUTO_TEST_CASE(solvers_listing) {
  Run r = run_dsx("solvers");
  BOOST_REQUIRE_EQUAL(r.code, 0);
  for (const char* name : {"euler", "heun", "afs", "thresholding", "polynomial", "nsr"})
    BOOST_TEST(r.out.find(name) != std::string::npos, name);
  Run bad = run_dsx("solvers eulr");
  BOOST_TEST(bad.code != 0);
  BOOST_TEST(bad.out.find("did you mean 'euler'") != std::string::npos, bad.out);
}

// `reference:` none / exact / auto. The exact solution of seeded latents is the evaluate stages' cached
// artifact: computed once, found by a second dsx sample and by a sample after a `dsx run` on the same seeds
// and σ range. `auto` skips a solve it estimates at more than 10x the sampling (and 2 s), saying how to ask.
BOOST_AUTO_TEST_CASE(reference_none_exact_auto_and_its_cache, *boost::unit_test::timeout(300)) {
  Workspace ws;
  const std::string cache = " --cache-dir " + ws.file("cache");
  const std::string seeded = ws.config(replace(kGood, "  file: z.h5", "  seeds: 0-4"), "seeded.yaml");
  Run none = run_dsx("sample " + seeded + cache + " --set reference=none");
  BOOST_REQUIRE_MESSAGE(none.code == 0, none.out);
  BOOST_TEST(none.out.find("rmse_vs_exact") == std::string::npos, none.out);
  BOOST_TEST(!h5::File::open(ws.file("out.h5")).has_attr("rmse"));
  BOOST_TEST(!fs::exists(ws.file("cache") + "/ode_reference"));

  Run first = run_dsx("sample " + seeded + cache + " --set reference=exact");
  BOOST_REQUIRE_MESSAGE(first.code == 0, first.out);
  BOOST_TEST(first.out.find("reference: exact ODE solution computed in") != std::string::npos, first.out);
  const double rmse = h5::File::open(ws.file("out.h5")).attr_double("rmse");
  Run again = run_dsx("sample " + seeded + cache);  // auto: a cached reference is always used
  BOOST_REQUIRE_MESSAGE(again.code == 0, again.out);
  BOOST_TEST(again.out.find("reference: exact ODE solution from the cache") != std::string::npos, again.out);
  BOOST_TEST(h5::File::open(ws.file("out.h5")).attr_double("rmse") == rmse);

  // An evaluate stage on the same model, seeds and σ range leaves the reference dsx sample then finds.
  std::ofstream(ws.file("spec.yaml"))
      << "name: shared\nmodel: {kind: gaussian_mixture, file: gmm.h5}\n"
         "precision: float64\nstages:\n  eval: {kind: evaluate, seeds: 10-14, "
         "metrics: [rmse_to_reference], methods: [{solver: {name: euler}}], nfe: [3]}\n";
  Run run = run_dsx("run " + ws.file("spec.yaml") + cache + " --runs-dir " + ws.file("runs"));
  BOOST_REQUIRE_MESSAGE(run.code == 0, run.out);
  Run shared = run_dsx("sample " + seeded + cache + " --set 'latents={seeds: 10-14}'");
  BOOST_REQUIRE_MESSAGE(shared.code == 0, shared.out);
  BOOST_TEST(shared.out.find("reference: exact ODE solution from the cache") != std::string::npos, shared.out);

  // auto on a costly solve: 2048 components on 3x8x8, 256 samples at NFE 2.
  GaussianMixture::random(2048, {3, 8, 8}, 5)->save_h5(ws.file("big.h5"));
  std::string big = replace(replace(kGood, "file: gmm.h5", "file: big.h5"), "  file: z.h5", "  seeds: 0-255");
  big = replace(replace(big, "num_steps: 7", "num_steps: 3"), "precision: float64", "precision: float32");
  Run skipped = run_dsx("sample " + ws.config(big, "big.yaml") + cache);
  BOOST_REQUIRE_MESSAGE(skipped.code == 0, skipped.out);
  BOOST_TEST(skipped.out.find("reference: skipped the exact ODE solution (") != std::string::npos, skipped.out);
  BOOST_TEST(skipped.out.find("set reference: exact to compute it") != std::string::npos, skipped.out);
  BOOST_TEST(skipped.out.find("rmse_vs_exact") == std::string::npos, skipped.out);

  fs::remove(ws.file("out.h5"));
  expect_error(ws, "sample " + seeded + cache + " --set reference=always",
               {"reference = 'always' is invalid; allowed: auto"});
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
