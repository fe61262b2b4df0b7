// Options validation, seed ranges, hashing and per-sample noise.
#include <boost/test/unit_test.hpp>

#include "core/error.h"
#include "core/hash.h"
#include "core/noise.h"
#include "core/options.h"
#include "core/seeds.h"

namespace dsx {
namespace {

std::vector<OptionSpec> specs() {
  return {{"max_order", OptionType::Int, "3", 1, 3, false, false, {}, ""},
          {"r", OptionType::Double, "0.5", 0, 1, true, true, {}, ""},
          {"variant", OptionType::Choice, "bh2", -1e300, 1e300, false, false, {"bh1", "bh2"}, ""},
          {"phi", OptionType::ChoiceOrNumber, "official", 0, 2, true, false, {"official", "one"}, ""},
          {"afs", OptionType::Bool, "false", -1e300, 1e300, false, false, {}, ""}};
}

std::string error_of(const std::map<std::string, RawOption>& raw) {
  try {
    Options::resolve(specs(), raw, "solver.");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(options)

BOOST_AUTO_TEST_CASE(defaults_and_values) {
  Options o = Options::resolve(specs(), {{"max_order", {"2", "x"}}, {"phi", {"0.75", "x"}}}, "solver.");
  BOOST_TEST(o.get_int("max_order") == 2);
  BOOST_TEST(o.get_double("r") == 0.5);
  BOOST_TEST(o.get_string("variant") == "bh2");
  BOOST_TEST(o.is_number("phi"));
  BOOST_TEST(o.get_double("phi") == 0.75);
  BOOST_TEST(!o.get_bool("afs"));
  BOOST_TEST(o.canonical() == "afs=false;max_order=2;phi=0.75;r=0.5;variant=bh2");
}

BOOST_AUTO_TEST_CASE(errors_name_option_location_and_range) {
  std::string e = error_of({{"max_ordr", {"2", "spec.yaml:4:3"}}});
  BOOST_TEST(e.find("spec.yaml:4:3") != std::string::npos);
  BOOST_TEST(e.find("did you mean 'max_order'") != std::string::npos);
  e = error_of({{"max_order", {"4", "spec.yaml:5:14"}}});
  BOOST_TEST(e.find("solver.max_order = '4'") != std::string::npos);
  BOOST_TEST(e.find("[1, 3]") != std::string::npos);
  e = error_of({{"r", {"1", "here"}}});
  BOOST_TEST(e.find("(0, 1)") != std::string::npos);
  e = error_of({{"variant", {"bh3", "here"}}});
  BOOST_TEST(e.find("one of: bh1, bh2") != std::string::npos);
  e = error_of({{"afs", {"maybe", "here"}}});
  BOOST_TEST(e.find("true or false") != std::string::npos);
  e = error_of({{"phi", {"0", "here"}}});
  BOOST_TEST(e.find("or a number in (0, 2]") != std::string::npos);
  BOOST_TEST(error_of({{"phi", {"one", "here"}}}).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(seeds)

BOOST_AUTO_TEST_CASE(ranges) {
  BOOST_TEST(parse_seed_ranges("0-3") == (std::vector<int64_t>{0, 1, 2, 3}), boost::test_tools::per_element());
  BOOST_TEST(parse_seed_ranges("5,7-8") == (std::vector<int64_t>{5, 7, 8}), boost::test_tools::per_element());
  for (const char* bad : {"", "3-1", "a", "1-", "-2", "1.5"}) BOOST_CHECK_THROW(parse_seed_ranges(bad), Error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hashing)

BOOST_AUTO_TEST_CASE(stable_and_length_prefixed) {
  BOOST_TEST(hash_hex("abc") == hash_hex("abc"));
  BOOST_TEST(hash_hex("abc").size() == 32u);
  BOOST_TEST(hash_hex("abc") != hash_hex("abd"));
  std::string ab_c = Hasher().update(std::string("ab")).update(std::string("c")).hex();
  std::string a_bc = Hasher().update(std::string("a")).update(std::string("bc")).hex();
  BOOST_TEST(ab_c != a_bc);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(noise)

BOOST_AUTO_TEST_CASE(same_seed_same_noise_whatever_the_batch) {
  at::Tensor all = seeded_noise({0, 1, 2, 3, 4, 5}, {3, 4});
  at::Tensor part = seeded_noise({3, 4}, {3, 4});
  BOOST_TEST(at::equal(all.slice(0, 3, 5), part));
  at::Tensor dbl = seeded_noise({3}, {3, 4}, at::TensorOptions().dtype(at::kDouble));
  BOOST_TEST(at::allclose(dbl.to(at::kFloat), part[0].unsqueeze(0)));
  BOOST_TEST(!at::equal(all[0], all[1]));
  // Unit Gaussian: moments of 64k draws within 5 standard errors.
  at::Tensor big = seeded_noise({7}, {65536}, at::TensorOptions().dtype(at::kDouble));
  BOOST_TEST(std::abs(big.mean().item<double>()) < 5.0 / 256);
  BOOST_TEST(std::abs(big.var().item<double>() - 1.0) < 5.0 * std::sqrt(2.0 / 65536));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
