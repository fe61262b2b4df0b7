// .npz archives: numpy-written fixtures (np.savez stored float64, np.savez_compressed deflated float32; see
// tests/data/npz/README.md) decode to the values numpy wrote, and dsx's own files round-trip every type and
// shape exactly.
#include <boost/test/unit_test.hpp>

#include "core/error.h"
#include "data/npz.h"
#include "metrics/feature_stats.h"
#include "metrics/frechet.h"
#include "support/check.h"
#include "support/scratch.h"

namespace dsx::test {
namespace {

const std::string kFixtures = std::string(DSX_SOURCE_DIR) + "/tests/data/npz/";
const std::vector<double> kMu = {0.5, -1.0, 2.0};
const std::vector<double> kSigma = {2.0, 0.5, 0.0, 0.5, 1.0, 0.25, 0.0, 0.25, 3.0};

}  // namespace

BOOST_AUTO_TEST_SUITE(npz)

BOOST_AUTO_TEST_CASE(numpy_fixtures_decode_to_numpys_values) {
  for (const char* file : {"stats_stored.npz", "stats_deflate.npz"}) {
    BOOST_TEST_CONTEXT(file) {
      const auto arrays = read_npz(kFixtures + file);
      BOOST_TEST(arrays.size() == 2u);
      const at::Tensor mu = arrays.at("mu"), sigma = arrays.at("sigma");
      BOOST_TEST(mu.sizes().vec() == std::vector<int64_t>({3}));
      BOOST_TEST(sigma.sizes().vec() == std::vector<int64_t>({3, 3}));
      check_close(mu.to(at::kDouble), kMu, 0, 0, "mu");
      check_close(sigma.to(at::kDouble).reshape({-1}), kSigma, 0, 0, "sigma");
      const GaussianFit fit = read_reference_stats(kFixtures + file);
      BOOST_TEST(fit.mean.scalar_type() == at::kDouble);
    }
  }
  BOOST_TEST(read_npz(kFixtures + "stats_stored.npz").at("mu").scalar_type() == at::kDouble);
  BOOST_TEST(read_npz(kFixtures + "stats_deflate.npz").at("mu").scalar_type() == at::kFloat);
  // The two files hold one distribution: FD 0.
  BOOST_TEST(frechet_distance(read_reference_stats(kFixtures + "stats_stored.npz"),
                              read_reference_stats(kFixtures + "stats_deflate.npz")) == 0.0,
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(round_trip_keeps_types_shapes_and_values) {
  TempDir dir;
  const std::map<std::string, at::Tensor> arrays = {
      {"f64", at::randn({4, 5}, at::kDouble)},
      {"f32", at::randn({7}, at::kFloat)},
      {"i64", at::arange(24, at::kLong).reshape({2, 3, 4})},
      {"u8", at::arange(200, at::kLong).to(at::kByte)},
      {"scalar", at::scalar_tensor(3.25, at::kDouble)},
      {"empty", at::zeros({0, 3}, at::kFloat)},
  };
  write_npz(dir.file("a.npz"), arrays);
  const auto back = read_npz(dir.file("a.npz"));
  BOOST_TEST(back.size() == arrays.size());
  for (const auto& [name, t] : arrays) {
    BOOST_TEST_CONTEXT(name) {
      const at::Tensor& b = back.at(name);
      BOOST_TEST(b.scalar_type() == t.scalar_type());
      BOOST_TEST(b.sizes().vec() == t.sizes().vec());
      BOOST_TEST(at::equal(b, t));
    }
  }
  BOOST_TEST(!std::filesystem::exists(dir.file("a.npz.tmp")));
}

BOOST_AUTO_TEST_CASE(fortran_order_members_are_read_in_c_order) {
  // numpy writes a column-major array as its transpose's C-order bytes with 'fortran_order': True.
  const at::Tensor a = at::arange(6, at::kDouble).reshape({2, 3});
  std::vector<char> bytes = npy_encode(a.t().contiguous(), "a");  // shape (3, 2), data column-major (2, 3)
  std::string text(bytes.begin(), bytes.end());
  const std::string from = "'fortran_order': False, 'shape': (3, 2)", to = "'fortran_order': True, 'shape': (2, 3) ";
  const size_t pos = text.find(from);
  BOOST_REQUIRE(pos != std::string::npos);
  text.replace(pos, from.size(), to);  // same length: the padding still holds
  const at::Tensor back = npy_decode(std::vector<char>(text.begin(), text.end()), "edited");
  BOOST_TEST(back.sizes().vec() == std::vector<int64_t>({2, 3}));
  BOOST_TEST(at::equal(back, a));
  // A header that lies about the data size is refused.
  text.replace(text.find("(2, 3) "), 7, "(2, 4) ");
  BOOST_CHECK_EXCEPTION(npy_decode(std::vector<char>(text.begin(), text.end()), "edited"), Error, [](const Error& e) {
    return std::string(e.what()).find("edited: 48 data bytes for shape (2, 4)") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_and_what_is_wrong) {
  TempDir dir;
  write_npz(dir.file("mu_only.npz"), {{"mu", at::zeros({3}, at::kDouble)}});
  try {
    read_reference_stats(dir.file("mu_only.npz"));
    BOOST_FAIL("expected an error");
  } catch (const Error& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("mu_only.npz") != std::string::npos);
    BOOST_TEST(m.find("'sigma' is missing") != std::string::npos);
  }
  {
    std::ofstream out(dir.file("junk.npz"));
    out << "not a zip";
  }
  BOOST_CHECK_EXCEPTION(read_npz(dir.file("junk.npz")), Error, [](const Error& e) {
    return std::string(e.what()).find("junk.npz: cannot open as an .npz") != std::string::npos;
  });
  write_npz(dir.file("bad_shape.npz"),
            {{"mu", at::zeros({3}, at::kDouble)}, {"sigma", at::zeros({2, 2}, at::kDouble)}});
  BOOST_CHECK_EXCEPTION(read_reference_stats(dir.file("bad_shape.npz")), Error, [](const Error& e) {
    return std::string(e.what()).find("'sigma' is 2x2 but 'mu' has 3 entries") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
