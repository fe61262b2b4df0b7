// solvers/lincomb.h against plain torch arithmetic (the independent truth): every fused width, two outputs in
// one pass, in-place writes only into buffers nobody else holds, merged repeated terms, and the byte count
// that `dsx bench solvers` turns into the updates' memory traffic.
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>

#include "solvers/lincomb.h"

namespace dsx {

namespace {

std::vector<at::Tensor> randoms(int n, at::ScalarType dtype) {
  std::vector<at::Tensor> ts;
  for (int i = 0; i < n; ++i) ts.push_back(at::randn({5, 7, 3}, at::TensorOptions().dtype(dtype)));
  return ts;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lincomb_pass)

BOOST_AUTO_TEST_CASE(every_fused_width_equals_torch_arithmetic) {
  at::manual_seed(3);
  for (at::ScalarType dtype : {at::kFloat, at::kDouble})
    for (int k = 1; k <= 9; ++k) {  // 9: past the widest fused loop, the torch fallback
      const std::vector<at::Tensor> ts = randoms(k, dtype);
      std::vector<std::pair<double, at::Tensor>> terms;
      at::Tensor expect = at::zeros_like(ts[0], at::kDouble);
      for (int i = 0; i < k; ++i) {
        const double c = 0.5 - 0.3 * i;
        terms.emplace_back(c, ts[size_t(i)]);
        expect += c * ts[size_t(i)].to(at::kDouble);
      }
      const at::Tensor got = lincomb(terms);
      BOOST_TEST(got.scalar_type() == dtype);
      BOOST_TEST(max_diff(got, expect) < (dtype == at::kFloat ? 1e-5 : 1e-14), "k = " << k);
    }
}

BOOST_AUTO_TEST_CASE(two_outputs_in_one_pass_and_repeated_terms_merge) {
  at::manual_seed(4);
  const std::vector<at::Tensor> t = randoms(3, at::kDouble);
  LinComb a, b;
  a.add(1.5, t[0]).add(-2.0, t[1]).add(0.25, t[0]);  // t[0] twice: 1.75
  b.add(3.0, t[2]).add(1.0, t[1]);
  const auto [ya, yb] = eval2(a, b);
  BOOST_TEST(max_diff(ya, 1.75 * t[0] - 2.0 * t[1]) < 1e-14);
  BOOST_TEST(max_diff(yb, 3.0 * t[2] + t[1]) < 1e-14);
}

BOOST_AUTO_TEST_CASE(writes_in_place_only_into_a_buffer_nobody_else_holds) {
  at::manual_seed(5);
  at::Tensor x = at::randn({4, 6}), y = at::randn({4, 6});
  const at::Tensor expect = 2.0 * x - y;
  const void* buffer = x.data_ptr();
  x = lincomb_into(x, {{2.0, x}, {-1.0, y}});
  BOOST_TEST(x.data_ptr() == buffer);
  BOOST_TEST(max_diff(x, expect) < 1e-6);
  const at::Tensor shared = x;  // a second handle: the result goes elsewhere and the old values stay
  const at::Tensor before = x.clone();
  at::Tensor z = lincomb_into(x, {{1.0, x}, {1.0, y}});
  BOOST_TEST(z.data_ptr() != buffer);
  BOOST_TEST(at::equal(shared, before));
  BOOST_TEST(max_diff(z, before + y) < 1e-6);
}

BOOST_AUTO_TEST_CASE(bytes_count_every_term_read_and_output_written_once) {
  const std::vector<at::Tensor> t = randoms(4, at::kFloat);
  const int64_t n = t[0].numel();
  int64_t before = lincomb_bytes();
  lincomb({{1.0, t[0]}, {2.0, t[1]}, {3.0, t[2]}});
  BOOST_TEST(lincomb_bytes() - before == 4 * n * 4);  // three read, one written, 4 bytes each
  before = lincomb_bytes();
  LinComb a, b;
  a.add(1.0, t[0]).add(1.0, t[1]);
  b.add(1.0, t[1]).add(1.0, t[3]);
  eval2(a, b);  // the union of the terms read once, two outputs
  BOOST_TEST(lincomb_bytes() - before == 5 * n * 4);
  before = lincomb_bytes();
  const std::vector<at::Tensor> d = randoms(2, at::kDouble);
  lincomb({{1.0, d[0]}, {1.0, d[1]}});
  BOOST_TEST(lincomb_bytes() - before == 3 * n * 8);
  before = lincomb_bytes();
  const at::Tensor strided = t[0].transpose(0, 2);  // not contiguous: torch arithmetic, not a fused pass
  lincomb({{1.0, strided}, {1.0, strided.contiguous()}});
  BOOST_TEST(lincomb_bytes() - before == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
