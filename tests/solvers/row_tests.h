#pragma once
// One Boost test case per registered row (cases.h), named by the row's test_id(), in the enclosing
// BOOST_AUTO_TEST_SUITE: `test_solvers --run_test=golden/<id>` runs one row and a failure names it.
//
// The rows register from other translation units at static-initialisation time, in an unspecified order,
// so the test cases cannot be made then (BOOST_DATA_TEST_CASE would copy its dataset then). A
// test_unit_generator instead makes them when Boost finalises the test tree, after every row is in.
#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

namespace dsx::test {

template <class Row>
class RowTests : public boost::unit_test::test_unit_generator {
 public:
  RowTests(std::vector<Row>& (*rows)(), void (*run)(const Row&), const char* file, std::size_t line)
      : rows_(rows), run_(run), file_(file), line_(line) {}

  boost::unit_test::test_unit* next() const override {
    if (!generated_) generate();
    if (pending_.empty()) return nullptr;
    boost::unit_test::test_unit* tu = pending_.front();
    pending_.pop_front();
    return tu;
  }

 private:
  void generate() const {
    generated_ = true;
    std::map<std::string, std::string> seen;  // test id -> row id
    for (const Row& row : rows_()) {
      const std::string name = test_id(row);
      auto [it, fresh] = seen.emplace(name, row.id);
      if (!fresh)
        throw boost::unit_test::framework::setup_error("rows '" + it->second + "' and '" + row.id +
                                                       "' have the same test id " + name);
      auto run = run_;
      pending_.push_back(boost::unit_test::make_test_case([run, row] { run(row); }, name, file_, line_));
    }
  }

  std::vector<Row>& (*rows_)();
  void (*run_)(const Row&);
  const char* file_;
  std::size_t line_;
  mutable bool generated_ = false;
  mutable std::deque<boost::unit_test::test_unit*> pending_;
};

// Adds one test case per row of rows() to the enclosing BOOST_AUTO_TEST_SUITE, each calling run(row):
//   static const auto golden_rows = row_tests(golden_cases, run_golden, __FILE__, __LINE__);
template <class Row>
boost::unit_test::ut_detail::auto_test_unit_registrar row_tests(std::vector<Row>& (*rows)(), void (*run)(const Row&),
                                                                const char* file, std::size_t line) {
  return boost::unit_test::ut_detail::auto_test_unit_registrar(
      boost::shared_ptr<boost::unit_test::test_unit_generator>(new RowTests<Row>(rows, run, file, line)),
      boost::unit_test::decorator::collector_t::instance());
}

}  // namespace dsx::test
