// `dsx bench solvers` end to end on a tiny mixture: the table has one row per chosen solver and NFE, with wall
// ≥ model time (the model runs inside the solver's wall time) and a traffic share for every solver that
// updates through fused passes. No timing is asserted: benchmarks print ratios, tests check their shape.
#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "support/scratch.h"

namespace dsx {

namespace {

std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::stringstream in(row);
  std::string cell;
  std::getline(in, cell, '|');  // before the first bar
  while (std::getline(in, cell, '|')) {
    const size_t a = cell.find_first_not_of(' '), b = cell.find_last_not_of(' ');
    out.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(bench_solvers_prints_one_row_per_solver_and_nfe, *boost::unit_test::timeout(120)) {
  const test::Run r = test::run_dsx(
      "bench solvers --dim 16 --components 3 --batch 8 --repeats 1 --threads-list 1 2 --nfe 5 6 --solvers euler ipndm");
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  std::vector<std::vector<std::string>> rows;
  std::stringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("| euler |", 0) == 0 || line.rfind("| ipndm |", 0) == 0) rows.push_back(cells(line));
  BOOST_REQUIRE_EQUAL(rows.size(), 4u);  // 2 solvers × 2 NFE, nothing else
  for (const auto& c : rows) {
    BOOST_REQUIRE_EQUAL(c.size(), 12u);  // solver, NFE, points, afs, then 4 per thread count
    for (size_t t : {4u, 8u}) {
      const double wall = std::stod(c[t]), model = std::stod(c[t + 1]);
      BOOST_TEST(model > 0.0);
      BOOST_TEST(wall >= model);
      BOOST_TEST(c[t + 2].back() == '%');
      BOOST_TEST(std::stod(c[t + 3]) > 0.0);  // both update through fused passes: some traffic
    }
  }
  BOOST_TEST(r.out.find("| heun |") == std::string::npos);
}

}  // namespace dsx
