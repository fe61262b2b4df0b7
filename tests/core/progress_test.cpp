// Progress lines: rate/ETA arithmetic, the log period when not on a terminal, and the final line.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/progress.h"

namespace dsx {

BOOST_AUTO_TEST_SUITE(progress)

BOOST_AUTO_TEST_CASE(status_text_has_rate_and_eta) {
  // 250 of 1000 in 10 s: 25 per second, 750 left → 30 s.
  BOOST_TEST(ProgressLine::status("samples", 250, 1000, 10.0) == "250/1000 samples (25%), 25 samples/s, ETA 30 s");
  BOOST_TEST(ProgressLine::status("samples", 0, 1000, 0.0) == "0/1000 samples (0%)");
  BOOST_TEST(ProgressLine::status("items", 4, 4, 2.0) == "4/4 items (100%), 2 items/s");  // done: no ETA
  BOOST_TEST(ProgressLine::duration_text(1.23) == "1.2 s");
  BOOST_TEST(ProgressLine::duration_text(59.4) == "59 s");
  BOOST_TEST(ProgressLine::duration_text(245) == "4 min 05 s");
  BOOST_TEST(ProgressLine::duration_text(7380) == "2 h 03 min");
}

BOOST_AUTO_TEST_CASE(log_mode_writes_once_per_period_and_a_final_line) {
  std::vector<std::string> lines;
  double now = 100.0;
  {
    ProgressLine p(
        "teacher", "samples", 1000, [&](const std::string& l) { lines.push_back(l); }, 10.0);
    p.set_mode(ProgressLine::Mode::Log);
    p.set_clock([&] { return now; });
    for (int i = 0; i < 10; ++i) {  // 100 samples per second of fake time
      now += 1.0;
      p.advance(100);
    }
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);  // only at t = 10 s
    BOOST_TEST(lines[0] == "  teacher: 1000/1000 samples (100%), 100 samples/s");
  }  // the destructor writes the final line
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  BOOST_TEST(lines[1] == "  teacher: 1000 samples in 10 s (100 samples/s)");
}

BOOST_AUTO_TEST_CASE(off_mode_is_silent) {
  std::vector<std::string> lines;
  ProgressLine p("x", "items", 3, [&](const std::string& l) { lines.push_back(l); });
  p.set_mode(ProgressLine::Mode::Off);
  p.advance(3);
  p.finish();
  BOOST_TEST(lines.empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
