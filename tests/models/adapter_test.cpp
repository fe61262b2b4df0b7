// VP adapter (ε, x0, v prediction) and the NFE-counting wrapper.
#include <boost/test/unit_test.hpp>

#include "core/error.h"
#include "models/diagonal_gaussian.h"
#include "models/vp_adapter.h"
#include "support/check.h"

namespace dsx {
namespace {

// A VP network built from an exact Gaussian: given x_vp and its time label it returns the requested
// prediction, computed through the process's own time conversions.
class GaussianVpNet : public VpNetwork {
 public:
  GaussianVpNet(std::shared_ptr<const NoiseProcess> p, Prediction pred, DiagonalGaussian& g)
      : p_(std::move(p)), pred_(pred), g_(g) {}
  at::Tensor forward(const at::Tensor& x_vp, const at::Tensor& label) const override {
    std::vector<at::Tensor> rows;
    for (int64_t i = 0; i < x_vp.size(0); ++i) {
      double t = label_to_t(label[i].item<double>());
      double a = p_->alpha(t), s = p_->sigma_hat(t), svp = p_->sigma(t);
      at::Tensor xh = x_vp.slice(0, i, i + 1) / a;
      at::Tensor d = g_.denoise(xh, sigma_like(xh, s));
      at::Tensor eps = (xh - d) / s;
      rows.push_back(pred_ == Prediction::Eps ? eps : pred_ == Prediction::X0 ? d : (a * eps - svp * d));
    }
    return at::cat(rows);
  }
  std::shared_ptr<const VpNetwork> converted(at::ScalarType, at::Device) const override {
    return std::make_shared<GaussianVpNet>(*this);
  }

 private:
  double label_to_t(double label) const {
    // Invert model_time by bisection so the test does not rely on the adapter's own formula.
    double lo = p_->t_min(), hi = p_->t_max();
    for (int i = 0; i < 200; ++i) {
      double mid = 0.5 * (lo + hi);
      (p_->model_time(mid) < label ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
  }
  std::shared_ptr<const NoiseProcess> p_;
  Prediction pred_;
  DiagonalGaussian& g_;
};

class NanModel : public Denoiser {
 public:
  const ModelInfo& info() const override { return info_; }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor&, Features* = nullptr) const override {
    return x * std::nan("");
  }
  std::shared_ptr<const Denoiser> converted(at::ScalarType, at::Device) const override {
    return std::make_shared<NanModel>(*this);
  }

 private:
  ModelInfo info_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(vp_adapter)

BOOST_AUTO_TEST_CASE(every_prediction_type_gives_the_edm_denoiser) {
  DiagonalGaussian g(at::tensor({0.3, -0.5, 1.0}, at::kDouble), at::tensor({0.5, 1.0, 0.1}, at::kDouble));
  std::vector<std::shared_ptr<const NoiseProcess>> processes = {
      std::make_shared<VpLinearProcess>(), std::make_shared<VpCosineProcess>(),
      std::make_shared<VpDiscreteProcess>(VpDiscreteProcess::ddpm_linear_betas())};
  at::Tensor x = at::tensor({2.0, -1.0, 0.5, 10.0, 3.0, -7.0}, at::kDouble).reshape({2, 3});
  for (const auto& p : processes) {
    for (Prediction pred : {Prediction::Eps, Prediction::X0, Prediction::V}) {
      ModelInfo info;
      info.sample_shape = {3};
      info.process = p;
      VpDenoiser d(std::make_shared<GaussianVpNet>(p, pred, g), pred, info);
      for (double frac : {0.05, 0.5, 0.95}) {
        double sigma = p->sigma_hat(p->t_min() + frac * (p->t_max() - p->t_min()));
        at::Tensor s = sigma_like(x, sigma);
        test::check_close(d.denoise(x, s), g.denoise(x, s), 1e-9, 1e-9,
                          p->describe() + " prediction " + std::to_string(int(pred)));
      }
    }
  }
  BOOST_CHECK_THROW(parse_prediction("score"), Error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(counting)

BOOST_AUTO_TEST_CASE(counts_calls_and_rejects_non_finite_outputs) {
  DiagonalGaussian g(at::zeros({2}, at::kDouble), at::ones({2}, at::kDouble));
  CountingDenoiser c(g);
  at::Tensor x = at::ones({3, 2}, at::kDouble);
  c.denoise(x, sigma_like(x, 1.0));
  c.denoise(x, sigma_like(x, 2.0));
  BOOST_TEST(c.nfe() == 2);
  NanModel nan;
  CountingDenoiser cn(nan);
  try {
    cn.denoise(x, sigma_like(x, 1.0));
    BOOST_FAIL("NaN output not detected");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()).find("NaN/Inf") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
