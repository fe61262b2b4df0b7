// Every shipped config runs end to end in its light mode through the real binary: the experiment specs
// (`dsx run X --light`) and the single-command examples (small seed ranges with --set). A config that is in
// neither list fails the census, so a new config cannot ship untested.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/scratch.h"

namespace fs = std::filesystem;

namespace {

const fs::path kConfigs = fs::path(DSX_SOURCE_DIR) / "configs";
const std::set<std::string> kCommandConfigs = {"sample_gmm.yaml", "amed_toy_teacher.yaml", "amed_toy_train.yaml",
                                               "amed_toy_sample.yaml"};
// The learned testbed's configs build on each other (a spec trains the UNet that the others sample), so the
// CTest `learned_testbed` (tools/check_learned_testbed.sh) runs them end to end, in order, in light mode.
const std::set<std::string> kLearnedTestbed = {"fashion_mnist_unet.yaml", "amed_fashion_mnist.yaml",
                                               "sample_fashion_unet.yaml"};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool is_spec(const fs::path& p) { return std::regex_search(slurp(p), std::regex("(^|\n)stages:")); }

std::vector<fs::path> experiment_specs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kConfigs))
    if (e.path().extension() == ".yaml" && is_spec(e.path()) && !kLearnedTestbed.count(e.path().filename().string()))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(configs)

BOOST_AUTO_TEST_CASE(every_config_is_covered) {
  std::set<std::string> uncovered;
  for (const auto& e : fs::directory_iterator(kConfigs))
    if (e.path().extension() == ".yaml" && !is_spec(e.path()) && !kCommandConfigs.count(e.path().filename().string()) &&
        !kLearnedTestbed.count(e.path().filename().string()))
      uncovered.insert(e.path().filename().string());
  BOOST_TEST(uncovered.empty(), "configs with no end-to-end test: " << uncovered.size());
  const std::string script = slurp(fs::path(DSX_SOURCE_DIR) / "tools" / "check_learned_testbed.sh");
  for (const auto& name : kLearnedTestbed) BOOST_TEST(script.find("configs/" + name) != std::string::npos, name);
  BOOST_TEST(experiment_specs().size() >= 4u);  // quickstart, amed_reproduction, schedule_ablation, scire_vs_dpmpp
}

BOOST_AUTO_TEST_CASE(experiment_specs_run_in_light_mode, *boost::unit_test::timeout(600)) {
  for (const auto& spec : experiment_specs()) {
    BOOST_TEST_CONTEXT(spec.filename().string()) {
      BOOST_TEST(slurp(spec).find("\nlight:") != std::string::npos);  // every spec has a light mode
      dsx::test::TempDir tmp("dsx_configs");
      auto r = dsx::test::run_dsx("run " + spec.string() + " --light --cache-dir " + tmp.file("cache") +
                                  " --runs-dir " + tmp.file("runs"));
      BOOST_TEST_INFO(r.out);
      BOOST_REQUIRE_EQUAL(r.code, 0);
      std::vector<fs::path> dirs;
      for (const auto& e : fs::directory_iterator(tmp.file("runs"))) dirs.push_back(e.path());
      BOOST_REQUIRE_EQUAL(dirs.size(), 1u);
      auto summary = nlohmann::json::parse(slurp(dirs[0] / "summary.json"));
      BOOST_TEST(summary["ok"].get<bool>());
      if (slurp(spec).find("kind: report") == std::string::npos) {  // an analysis without a metrics report
        int analyses = 0;
        for (const auto& e : fs::directory_iterator(dirs[0]))
          if (e.path().filename().string().find(".geometry.md") != std::string::npos) ++analyses;
        BOOST_TEST(analyses >= 1);
        continue;
      }
      // Every scored row is a finite number and every method reached at least one requested NFE.
      std::istringstream csv(slurp(dirs[0] / "metrics.csv"));
      std::string line;
      std::getline(csv, line);
      int rows = 0, rmse_rows = 0;
      while (std::getline(csv, line)) {
        ++rows;
        double value = std::stod(line.substr(line.rfind(',') + 1));
        BOOST_TEST(std::isfinite(value), line);
        if (line.find(",rmse_to_reference,") != std::string::npos) {
          ++rmse_rows;
          BOOST_TEST(value > 0.0, line);
          BOOST_TEST(value < 100.0, line);  // a diverged sampler would show here
        }
      }
      BOOST_TEST(rmse_rows >= 8);
      BOOST_TEST(rows > rmse_rows);
      std::string md = slurp(dirs[0] / "report.md");
      BOOST_TEST(md.find("## rmse_to_reference (lower is better)") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(command_configs_run_with_small_seed_ranges, *boost::unit_test::timeout(300)) {
  dsx::test::TempDir tmp("dsx_configs");
  const std::string c = kConfigs.string() + "/";
  auto sample =
      dsx::test::run_dsx("sample " + c + "sample_gmm.yaml --set latents.seeds=0-15 --set reference=exact --cache-dir " +
                         tmp.file("cache") + " --set output=" + tmp.file("gmm.h5"));
  BOOST_TEST_INFO(sample.out);
  BOOST_REQUIRE_EQUAL(sample.code, 0);
  BOOST_TEST(sample.out.find("rmse_vs_exact") != std::string::npos);

  // The AMED toy chain: teacher → train-amed → sample with the predictor (AMED-Solver, NFE 5).
  auto teacher =
      dsx::test::run_dsx("teacher " + c + "amed_toy_teacher.yaml --set seeds=0-255 --set output=" + tmp.file("t.h5"));
  BOOST_TEST_INFO(teacher.out);
  BOOST_REQUIRE_EQUAL(teacher.code, 0);
  auto train =
      dsx::test::run_dsx("train-amed " + c + "amed_toy_train.yaml --quiet --set trajectories=" + tmp.file("t.h5") +
                         " --set output=" + tmp.file("p.h5"));
  BOOST_TEST_INFO(train.out);
  BOOST_REQUIRE_EQUAL(train.code, 0);
  auto amed = dsx::test::run_dsx("sample " + c + "amed_toy_sample.yaml --set latents.seeds=100000-100015 --set " +
                                 "solver.amed.predictor=" + tmp.file("p.h5") + " --set output=" + tmp.file("s.h5"));
  BOOST_TEST_INFO(amed.out);
  BOOST_REQUIRE_EQUAL(amed.code, 0);
  BOOST_TEST(amed.out.find("nfe 5") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
