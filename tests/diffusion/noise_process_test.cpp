// VP ↔ EDM conversions against docs/solvers.md §6.5.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "diffusion/noise_process.h"

namespace dsx {

BOOST_AUTO_TEST_SUITE(noise_processes)

BOOST_AUTO_TEST_CASE(vp_linear_table) {
  VpLinearProcess vp(0.1, 20.0);
  struct Row {
    double t, alpha, sigma, lambda, sigma_hat;
  };
  for (const Row& r : {Row{1e-4, 0.999994950262750, 0.003177963026879, 5.751509795269855, 0.00317797907483857},
                       Row{1e-3, 0.999945026511098, 0.010485416335095, 4.557714932729866, 0.0104859927867033},
                       Row{0.5, 0.281182880796752, 0.959654202068036, -1.227567734410787, 3.41291830906912},
                       Row{1.0, 0.006571586494930, 0.999978406892339, -5.024978406659204, 152.166970283946}}) {
    BOOST_TEST_CONTEXT("t = " << r.t) {
      BOOST_TEST(vp.alpha(r.t) == r.alpha, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(vp.sigma(r.t) == r.sigma, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(vp.lambda(r.t) == r.lambda, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(vp.sigma_hat(r.t) == r.sigma_hat, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(vp.t_of_sigma_hat(r.sigma_hat) == r.t, boost::test_tools::tolerance(1e-10));
    }
  }
}

BOOST_AUTO_TEST_CASE(vp_discrete_ddpm_table) {
  VpDiscreteProcess d(VpDiscreteProcess::ddpm_linear_betas());
  auto close = boost::test_tools::tolerance(1e-11);
  BOOST_TEST(d.log_alpha(1e-3) == -0.000050002500167, close);
  BOOST_TEST(d.sigma(1e-3) == 0.009999999999999, close);
  BOOST_TEST(d.lambda(1e-3) == 4.605120183487980, close);
  BOOST_TEST(d.log_alpha(1.5e-3) == -0.000079984277889, close);
  BOOST_TEST(d.lambda(1.5e-3) == 4.370226651545431, close);
  BOOST_TEST(d.log_alpha(0.5) == -1.271772948511412, close);
  BOOST_TEST(d.lambda(0.5) == -1.230849357905238, close);
  BOOST_TEST(d.log_alpha(1.0) == -5.058856771206551, close);
  BOOST_TEST(d.lambda(1.0) == -5.058836591650515, close);
  // σ̂ range of DDPM linear (docs/solvers.md §4.6)
  BOOST_TEST(d.sigma_hat(1e-3) == 0.0100005, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(d.sigma_hat(1.0) == 157.4073, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(d.model_time(1.0) == 999.0, close);
  BOOST_TEST(d.model_time(1e-3) == 0.0);
}

BOOST_AUTO_TEST_CASE(fitted_vp_clock_hits_edm_end_points) {
  VpLinearProcess fit = VpLinearProcess::fitted_to(0.002, 80.0, 1e-3);
  BOOST_TEST(fit.beta1() - fit.beta0() == 17.537957, boost::test_tools::tolerance(1e-7));  // docs/amed.md §2 β_d
  BOOST_TEST(fit.beta0() == -0.0047690, boost::test_tools::tolerance(1e-4));
  BOOST_TEST(fit.sigma_hat(1.0) == 80.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(fit.sigma_hat(1e-3) == 0.002, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(inverses_round_trip) {
  VpLinearProcess lin;
  VpCosineProcess cos;
  VpDiscreteProcess disc(VpDiscreteProcess::ddpm_linear_betas());
  VeProcess ve;
  for (const NoiseProcess* p : std::initializer_list<const NoiseProcess*>{&lin, &cos, &disc, &ve}) {
    for (double frac : {0.01, 0.1, 0.37, 0.5, 0.9, 0.99}) {
      double t = p->is_variance_exploding() ? 80.0 * frac : p->t_min() + frac * (p->t_max() - p->t_min());
      BOOST_TEST_CONTEXT(p->describe() << " t = " << t) {
        BOOST_TEST(p->t_of_sigma_hat(p->sigma_hat(t)) == t, boost::test_tools::tolerance(1e-9));
        double a = p->alpha(t), s = p->sigma(t);
        if (!p->is_variance_exploding()) BOOST_TEST(a * a + s * s == 1.0, boost::test_tools::tolerance(1e-12));
      }
    }
  }
  BOOST_TEST(cos.alpha(0.0) == 1.0, boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
