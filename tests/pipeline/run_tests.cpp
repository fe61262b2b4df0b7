// The quickstart spec in light mode through the real binary: run directory contents, and a second run
// that is all HIT.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/scratch.h"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(run)

BOOST_AUTO_TEST_CASE(quickstart_light_end_to_end, *boost::unit_test::timeout(300)) {
  dsx::test::TempDir tmp("dsx_pipeline");
  const std::string spec = std::string(DSX_SOURCE_DIR) + "/configs/quickstart.yaml";
  const std::string common = spec + " --light --cache-dir " + tmp.file("cache") + " --runs-dir " + tmp.file("runs");

  auto dry = dsx::test::run_dsx("run " + common + " --dry-run");
  BOOST_TEST_INFO(dry.out);
  BOOST_REQUIRE_EQUAL(dry.code, 0);
  BOOST_TEST(dry.out.find("RUN") != std::string::npos);

  auto first = dsx::test::run_dsx("--threads 2 run " + common);
  BOOST_TEST_INFO(first.out);
  BOOST_REQUIRE_EQUAL(first.code, 0);
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(tmp.file("runs"))) dirs.push_back(e.path());
  BOOST_REQUIRE_EQUAL(dirs.size(), 1u);
  for (const char* f :
       {"spec.yaml", "resolved.yaml", "env.json", "run.log", "metrics.csv", "summary.json", "report.md"})
    BOOST_TEST(fs::exists(dirs[0] / f), f);
  std::string csv = slurp(dirs[0] / "metrics.csv");
  BOOST_TEST(csv.rfind("stage,solver,options,schedule,nfe,predictor,learned,metric,value\n", 0) == 0u);
  BOOST_TEST(csv.find("rmse_to_reference") != std::string::npos);
  BOOST_TEST(csv.find(",amed,") != std::string::npos);  // the trained predictor was evaluated
  std::string md = slurp(dirs[0] / "report.md");
  BOOST_TEST(md.find("| NFE 3 | NFE 5 | NFE 7 | NFE 9 |") != std::string::npos);
  BOOST_TEST(slurp(dirs[0] / "summary.json").find("\"ok\": true") != std::string::npos);
  // Five evaluate jobs on the same seeds and σ range share one cached exact ODE solution.
  int references = 0;
  for (const auto& e : fs::directory_iterator(tmp.file("cache") + "/ode_reference")) references += e.is_directory();
  BOOST_TEST(references == 1);

  auto dry2 = dsx::test::run_dsx("run " + common + " --dry-run");
  BOOST_TEST_INFO(dry2.out);
  BOOST_TEST(dry2.out.find("RUN") == std::string::npos);
  BOOST_TEST(dry2.out.find("HIT") != std::string::npos);

  auto second = dsx::test::run_dsx("run " + common);
  BOOST_TEST_INFO(second.out);
  BOOST_REQUIRE_EQUAL(second.code, 0);
  BOOST_TEST(second.out.find("plan: RUN") == std::string::npos);
  BOOST_TEST(second.out.find("DONE") == std::string::npos);  // nothing recomputed
  dirs.clear();
  for (const auto& e : fs::directory_iterator(tmp.file("runs"))) dirs.push_back(e.path());
  BOOST_TEST(dirs.size() == 2u);

  auto forced = dsx::test::run_dsx("run " + common + " --dry-run --force eval");
  BOOST_TEST_INFO(forced.out);
  BOOST_TEST(forced.out.find("forced") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
