// The search_schedule stage through the real binary on the shipped mixture (float64), checked piece by
// piece against recomputation from its inputs:
//   - the teacher's stored directions are (x − D(x, σ))/σ of the model at the stored states;
//   - cost.h5 is GitsCost over those trajectories; the DP path is gits_search's on it;
//   - the AFS point is the candidate whose student error (ipndm with AFS, last trajectories) is smallest;
//   - evaluate with `schedule: {kind: learned}` gives the NFE and the numbers of the same grid given
//     explicitly, and metrics.csv marks only its rows as learned.
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "diffusion/schedule.h"
#include "learned/geometry.h"
#include "learned/gits.h"
#include "models/gaussian_mixture.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/check.h"
#include "support/scratch.h"
#include "support/testbeds.h"

namespace fs = std::filesystem;
using namespace dsx;

namespace {

const std::string kMixture = std::string(DSX_SOURCE_DIR) + "/data/gmm/mix8_3x8x8.h5";
constexpr int kGridPoints = 13, kSteps = 3, kSeeds = 24, kAfsSamples = 8;

std::string spec_text(const std::string& eval_schedule, const std::string& solver) {
  return fmt::format(R"(name: gits_stage
model: {{kind: gaussian_mixture, file: {}}}
precision: float64
stages:
  fine:
    kind: teacher
    schedule: {{kind: polynomial, num_steps: {}, rho: 7}}
    solver: {{name: ipndm}}
    m: 0
    directions: true
    seeds: 0-{}
  gits:
    kind: search_schedule
    teacher: fine
    nfe: {}
    afs: true
    student: {{name: ipndm}}
    afs_samples: {}
  eval:
    kind: evaluate
    seeds: 1000-1015
    methods: [{{solver: {}, schedule: {}}}]
  fixed:
    kind: evaluate
    seeds: 1000-1015
    methods: [{{solver: {{name: euler}}}}]
    nfe: [3]
  geometry: {{kind: analyze_trajectories, teacher: fine}}
  report: {{kind: report, inputs: [eval, fixed], analyses: [geometry]}}
)",
                     kMixture, kGridPoints, kSeeds - 1, kSteps, kAfsSamples, solver, eval_schedule);
}

using test::find_named;
using test::slurp;

fs::path run_spec(const test::TempDir& tmp, const std::string& name, const std::string& text) {
  const std::string spec = tmp.file(name + ".yaml");
  std::ofstream(spec) << text;
  auto r = test::run_dsx("run " + spec + " --cache-dir " + tmp.file("cache") + " --runs-dir " + tmp.file(name));
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(tmp.file(name))) dirs.push_back(e.path());
  BOOST_REQUIRE_EQUAL(dirs.size(), 1u);
  return dirs[0];
}

// The metrics.csv rows (without wall time) as "solver,schedule,nfe,learned" → value.
std::map<std::string, std::string> csv_rows(const fs::path& run_dir) {
  std::map<std::string, std::string> out;
  std::istringstream in(slurp(run_dir / "metrics.csv"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> c;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) c.push_back(cell);
    BOOST_REQUIRE_EQUAL(c.size(), 9u);
    if (c[7] != "rmse_to_reference") continue;
    out[c[1] + "," + c[3] + "," + c[4] + "," + c[6]] = c[8];
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(search_schedule_stage)

BOOST_AUTO_TEST_CASE(gits_stage_matches_recomputation, *boost::unit_test::timeout(300)) {
  test::TempDir tmp("dsx_gits_stage");
  const fs::path run = run_spec(tmp, "learned", spec_text("{kind: learned, from: gits}", "{name: ipndm}"));
  auto model = GaussianMixture::load_h5(kMixture);
  const std::vector<double> grid = test::family_grid("polynomial", kGridPoints);

  // The teacher's trajectories and directions, gathered from its shards in seed order.
  std::vector<at::Tensor> states, dirs, seeds;
  for (const auto& e : fs::recursive_directory_iterator(tmp.file("cache"))) {
    if (e.path().extension() != ".h5") continue;
    h5::File f = h5::File::open(e.path().string());
    if (!f.has("directions")) continue;
    states.push_back(h5::read_tensor(f, "states"));
    dirs.push_back(h5::read_tensor(f, "directions"));
    seeds.push_back(h5::read_tensor(f, "seeds", at::kLong));
  }
  BOOST_REQUIRE(!states.empty());
  const at::Tensor order = at::cat(seeds).argsort();
  const at::Tensor x = at::cat(states).index_select(0, order), d = at::cat(dirs).index_select(0, order);
  BOOST_REQUIRE_EQUAL(x.size(0), kSeeds);
  BOOST_REQUIRE_EQUAL(d.size(1), kGridPoints - 1);

  // The geometry stage measured these trajectories.
  const auto geo = nlohmann::json::parse(slurp(find_named(tmp.file("cache"), "geometry.json").at(0)));
  const TrajectoryGeometry g = trajectory_geometry(x);
  for (int k = 0; k < 3; ++k)
    BOOST_TEST(std::abs(geo["explained_mean"][k].get<double>() - g.explained[k].mean().item<double>()) < 1e-12);
  const auto dev = geo["deviation_mean"].get<std::vector<double>>();
  BOOST_REQUIRE_EQUAL(dev.size(), size_t(kGridPoints));
  for (int i = 0; i < kGridPoints; ++i)
    BOOST_TEST(std::abs(dev[size_t(i)] - g.deviation.select(1, i).mean().item<double>()) < 1e-12);
  BOOST_TEST(fs::exists(run / "geometry.geometry.md"));
  // The report carries the analysis as a section, its plots beside it.
  const std::string report = slurp(run / "report.md");
  const size_t section = report.find("\n## Trajectory geometry: geometry\n");
  BOOST_TEST(section != std::string::npos);
  BOOST_TEST(report.find(fmt::format("| explained variance, mean | {:.6f} |", g.explained[0].mean().item<double>()),
                         section) != std::string::npos);
  BOOST_TEST(report.find("](geometry.deviation.png)", section) != std::string::npos);
  BOOST_TEST(fs::exists(run / "geometry.deviation.png"));

  // Directions: the model's own at the stored states.
  for (int i = 0; i + 1 < kGridPoints; ++i) {
    const at::Tensor xi = x.select(1, i);
    const at::Tensor sigma = at::full({kSeeds}, grid[size_t(i)], at::kDouble);
    const at::Tensor want = (xi - model->denoise(xi, sigma)) / grid[size_t(i)];
    test::check_close(d.select(1, i), want, 1e-12, 1e-12, fmt::format("direction at point {}", i));
  }

  // Cost matrix and DP.
  GitsCost cost(grid, GitsMetric::Dev);
  cost.add(x, d);
  const h5::File cf = h5::File::open(find_named(tmp.file("cache"), "cost.h5").at(0).string());
  test::check_close(h5::read_tensor(cf, "cost"), cost.matrix(), 1e-12, 1e-12, "cost.h5");
  const GitsPath path = gits_search(cost.matrix(), kSteps, 1.15);

  // AFS insertion by brute force over the candidates (several here: the first DP step skips points).
  BOOST_TEST_REQUIRE(path.indices[1] > 2);
  int64_t best = -1;
  double best_err = std::numeric_limits<double>::infinity();
  const at::Tensor last = x.slice(0, kSeeds - kAfsSamples);
  for (int64_t k = 1; k < path.indices[1]; ++k) {
    std::vector<double> sig = {grid[0], grid[size_t(k)]};
    for (size_t m = 1; m < path.indices.size(); ++m) sig.push_back(grid[size_t(path.indices[m])]);
    const auto r = test::run_solver("ipndm", {{"afs", "true"}}, *model, last.select(1, 0), sig);
    const double err =
        (r.x - last.select(1, kGridPoints - 1)).reshape({kAfsSamples, -1}).norm(2, {1}).mean().item<double>();
    if (err < best_err) best_err = err, best = k;
  }
  std::vector<int64_t> want = path.indices;
  if (best > 0) want.insert(want.begin() + 1, best);
  const auto js = nlohmann::json::parse(slurp(find_named(tmp.file("cache"), "schedule.json").at(0)));
  BOOST_TEST(js["indices"].get<std::vector<int64_t>>() == want, boost::test_tools::per_element());
  BOOST_TEST(js["afs"].get<bool>());
  const auto sigmas = js["sigmas"].get<std::vector<double>>();
  BOOST_REQUIRE_EQUAL(sigmas.size(), want.size());
  for (size_t m = 0; m < want.size(); ++m) BOOST_TEST(sigmas[m] == grid[size_t(want[m])]);
  BOOST_TEST(fs::exists(run / "gits.schedule.yaml"));

  // Evaluate on the learned grid = the same grid given explicitly (ipndm with AFS: K steps of NFE, the
  // inserted first step free); only the learned rows are marked.
  const auto learned = csv_rows(run);
  const std::string key = fmt::format("ipndm,learned:gits,{},1", kSteps);
  BOOST_TEST_INFO(fmt::format("{}", fmt::join(learned, "; ")));
  BOOST_REQUIRE(learned.count(key));
  BOOST_TEST(learned.count("euler,polynomial,3,0") == 1u);
  const fs::path explicit_run =
      run_spec(tmp, "explicit",
               spec_text(fmt::format("{{kind: explicit, sigmas: [{:.17g}]}}", fmt::join(sigmas, ", ")),
                         "{name: ipndm, afs: true}"));
  const auto fixed = csv_rows(explicit_run);
  const std::string fixed_key = fmt::format("ipndm,explicit,{},0", kSteps);
  BOOST_REQUIRE(fixed.count(fixed_key));
  BOOST_TEST(fixed.at(fixed_key) == learned.at(key));
}

BOOST_AUTO_TEST_CASE(dsx_gits_equals_the_stage_and_its_output_is_includable, *boost::unit_test::timeout(300)) {
  test::TempDir tmp("dsx_gits_cli");
  run_spec(tmp, "stage", spec_text("{kind: learned, from: gits}", "{name: ipndm}"));
  const auto stage = nlohmann::json::parse(slurp(find_named(tmp.file("cache"), "schedule.json").at(0)));
  std::ofstream(tmp.file("gits.yaml")) << fmt::format(R"(model: {{kind: gaussian_mixture, file: {}}}
latents: {{seeds: 0-{}}}
schedule: {{kind: polynomial, num_steps: {}, rho: 7}}
solver: {{name: ipndm}}
precision: float64
gits: {{nfe: {}, afs: true, student: {{name: ipndm}}, afs_samples: {}}}
output: found.yaml
)",
                                                      kMixture, kSeeds - 1, kGridPoints, kSteps, kAfsSamples);
  auto r = test::run_dsx("gits " + tmp.file("gits.yaml"));
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  const YAML::Node found = YAML::LoadFile(tmp.file("found.yaml"));
  BOOST_TEST(found["indices"].as<std::vector<int64_t>>() == stage["indices"].get<std::vector<int64_t>>(),
             boost::test_tools::per_element());
  BOOST_TEST(found["schedule"]["sigmas"].as<std::vector<double>>() == stage["sigmas"].get<std::vector<double>>(),
             boost::test_tools::per_element());
  BOOST_TEST(found["solver"]["afs"].as<bool>());
  // A sample config that includes it samples that grid with AFS: K NFE on K + 2 points.
  std::ofstream(tmp.file("sample.yaml")) << fmt::format(R"(include: found.yaml
model: {{kind: gaussian_mixture, file: {}}}
latents: {{seeds: 0-3}}
solver: {{name: ipndm}}
output: s.h5
)",
                                                        kMixture);
  r = test::run_dsx("sample " + tmp.file("sample.yaml"));
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  BOOST_TEST(r.out.find(fmt::format("({} points,", kSteps + 2)) != std::string::npos);
  BOOST_TEST(r.out.find(fmt::format("nfe {} ", kSteps)) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_teacher_without_directions_is_refused, *boost::unit_test::timeout(120)) {
  test::TempDir tmp("dsx_gits_refused");
  std::string text = spec_text("{kind: learned, from: gits}", "{name: ipndm}");
  text.replace(text.find("    directions: true\n"), 21, "");
  const std::string spec = tmp.file("spec.yaml");
  std::ofstream(spec) << text;
  auto r = test::run_dsx("run " + spec + " --cache-dir " + tmp.file("cache") + " --runs-dir " + tmp.file("runs"));
  BOOST_TEST(r.code != 0);
  BOOST_TEST(r.out.find("directions: true") != std::string::npos, r.out);
  // A learned schedule must name a search_schedule stage.
  text = spec_text("{kind: learned, from: fine}", "{name: ipndm}");
  std::ofstream(spec) << text;
  r = test::run_dsx("run " + spec + " --dry-run --cache-dir " + tmp.file("cache"));
  BOOST_TEST(r.code != 0);
  BOOST_TEST(r.out.find("search_schedule") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("spec.yaml:") != std::string::npos, r.out);
}

// A teacher on a learned grid: `schedule: {kind: learned, from: gits}` in a teacher stage. Its key names the
// GITS artifact (it exists before the grid does); its shards hold the exact solution at the grid's σ, which
// is the fine exact teacher's state at the chosen indices; a changed search gives a new entry, not the old grid.
BOOST_AUTO_TEST_CASE(a_teacher_on_a_learned_grid_holds_the_solution_at_its_points, *boost::unit_test::timeout(300)) {
  test::TempDir tmp("dsx_gits_teacher");
  auto text = [](int nfe) {
    return fmt::format(R"(name: learned_teacher
model: {{kind: gaussian_mixture, file: {}}}
precision: float64
stages:
  fine: {{kind: teacher, schedule: {{kind: polynomial, num_steps: {}, rho: 7}}, solver: {{name: exact}},
          directions: true, seeds: 0-{}}}
  gits: {{kind: search_schedule, teacher: fine, nfe: {}}}
  coarse: {{kind: teacher, schedule: {{kind: learned, from: gits}}, solver: {{name: exact}}, seeds: 0-{}}}
  geometry: {{kind: analyze_trajectories, teacher: coarse}}
)",
                       kMixture, kGridPoints, kSeeds - 1, nfe, kSeeds - 1);
  };
  // Every teacher shard's (seeds, states, sigmas) with or without directions, rows in seed order.
  auto teacher_rows = [&](bool with_directions, size_t points) {
    std::vector<at::Tensor> states, seeds;
    for (const auto& e : fs::recursive_directory_iterator(tmp.file("cache"))) {
      if (e.path().extension() != ".h5") continue;
      h5::File f = h5::File::open(e.path().string());
      if (!f.has("states") || f.has("directions") != with_directions) continue;
      if (size_t(h5::read_tensor(f, "sigmas").numel()) != points) continue;
      states.push_back(h5::read_tensor(f, "states"));
      seeds.push_back(h5::read_tensor(f, "seeds", at::kLong));
    }
    BOOST_REQUIRE(!states.empty());
    return at::cat(states).index_select(0, at::cat(seeds).argsort());
  };
  const fs::path run = run_spec(tmp, "first", text(kSteps));
  const auto js = nlohmann::json::parse(slurp(find_named(tmp.file("cache"), "schedule.json").at(0)));
  const auto sigmas = js["sigmas"].get<std::vector<double>>();
  const auto indices = js["indices"].get<std::vector<int64_t>>();
  BOOST_REQUIRE_EQUAL(sigmas.size(), size_t(kSteps + 1));

  const at::Tensor fine = teacher_rows(true, kGridPoints), coarse = teacher_rows(false, sigmas.size());
  BOOST_REQUIRE_EQUAL(coarse.size(0), kSeeds);
  for (const auto& f : find_named(tmp.file("cache"), "geometry.json")) {
    const auto geo = nlohmann::json::parse(slurp(f));
    BOOST_TEST(geo["deviation_mean"].size() == sigmas.size());  // the analysis saw the learned grid
  }
  double worst = 0;
  for (size_t m = 0; m < indices.size(); ++m)
    worst = std::max(worst, (coarse.select(1, int64_t(m)) - fine.select(1, indices[m])).abs().max().item<double>());
  BOOST_TEST_MESSAGE("largest difference to the fine exact teacher at the chosen points: " << worst);
  BOOST_TEST(worst < 1e-10);  // both are the reference ODE solution (rtol 1e-12), chained through other points

  // The second run finds everything (the key did not need the grid to exist), a new search a new grid.
  auto r = test::run_dsx("run " + tmp.file("first.yaml") + " --cache-dir " + tmp.file("cache") + " --runs-dir " +
                         tmp.file("again"));
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  BOOST_TEST(r.out.find("HIT coarse") != std::string::npos);
  BOOST_TEST(r.out.find("RUN coarse") == std::string::npos);
  run_spec(tmp, "second", text(kSteps + 1));
  BOOST_TEST(teacher_rows(false, sigmas.size() + 1).size(0) == kSeeds);
}

BOOST_AUTO_TEST_SUITE_END()
