// The EDM UNet and its training: the preconditioning against its closed form, the documented size and
// feature, file round trips, and training that resumes from a checkpoint bitwise equal to an
// uninterrupted run; a network trained on one image learns the optimal denoiser of that one-point
// distribution (D = the image), an independent truth.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "core/error.h"
#include "nets/edm_training.h"
#include "nets/unet.h"
#include "nets/unet_model.h"
#include "support/check.h"
#include "support/scratch.h"

namespace dsx::test {
namespace {

// A tiny net for fast tests: 8×8 images, two levels (8×8 and 4×4).
UNetOptions tiny() {
  UNetOptions o;
  o.resolution = 8;
  o.base_channels = 8;
  o.channel_mult = {1, 2};
  o.blocks = 1;
  o.attention_at = {4};
  return o;
}

at::Tensor images(int64_t n, int64_t res, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::rand({n, 1, res, res}, g, at::kFloat) * 2 - 1;
}

bool same_parameters(UNet& a, UNet& b) {
  auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters())
    if (!at::equal(p.value(), pb[p.key()])) return false;
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(unet)

BOOST_AUTO_TEST_CASE(default_net_has_the_documented_size_and_feature) {
  UNet net{UNetOptions{}};
  const int64_t n = net->parameter_count();
  BOOST_TEST_MESSAGE("default UNet parameters: " << n);
  BOOST_TEST(n > 1000000);
  BOOST_TEST(n < 4000000);
  at::Tensor feature;
  const at::Tensor x = at::randn({2, 1, 32, 32});
  const at::Tensor d = net->forward(x, at::full({2}, 1.5), {}, &feature);
  BOOST_TEST(d.sizes().vec() == x.sizes().vec());
  BOOST_TEST(feature.sizes().vec() == std::vector<int64_t>({2, 64, 8, 8}));
  BOOST_TEST(net->has_feature());
}

BOOST_AUTO_TEST_CASE(untrained_net_is_the_skip_path_of_the_preconditioning) {
  // The output convolution starts at zero, so D = c_skip(σ)·x = σd²/(σ² + σd²)·x exactly.
  UNet net{tiny()};
  const at::Tensor x = at::randn({3, 1, 8, 8}), sigma = at::tensor({0.01f, 0.5f, 40.0f});
  const at::Tensor expected = x * (0.25 / (sigma.square() + 0.25)).reshape({-1, 1, 1, 1});
  check_close(net->forward(x, sigma), expected, 1e-6, 1e-7, "D = c_skip x");
}

BOOST_AUTO_TEST_CASE(options_validate_with_the_key_and_range) {
  UNetOptions o = tiny();
  o.attention_at = {16};
  BOOST_CHECK_EXCEPTION(o.validate(), Error, [](const Error& e) {
    return std::string(e.what()).find("unet.attention_at: 16 is not the resolution of a level") != std::string::npos;
  });
  o = tiny();
  o.base_channels = 12;
  BOOST_CHECK_THROW(o.validate(), Error);
  BOOST_TEST(UNetOptions::from_json(tiny().to_json()).to_json() == tiny().to_json());
}

BOOST_AUTO_TEST_CASE(file_round_trip_gives_the_same_denoiser) {
  TempDir dir;
  UNetOptions o = tiny();
  o.num_classes = 3;
  UNet net{o};
  {
    at::NoGradGuard g;
    for (auto& p : net->parameters()) p.normal_(0, 0.1);  // non-zero everywhere, the output conv included
  }
  save_unet(dir.file("u.h5"), net, {{"steps", 5}});
  LoadedUNet back = load_unet(dir.file("u.h5"));
  BOOST_TEST(back.training["steps"] == 5);
  BOOST_TEST(same_parameters(net, back.net));
  const ModelPtr model = unet_denoiser(dir.file("u.h5"));
  BOOST_TEST(model->num_classes() == 3);
  BOOST_TEST(model->has_features());
  const at::Tensor x = at::randn({2, 1, 8, 8}, at::kDouble), s = at::tensor({0.3, 3.0}, at::kDouble);
  const at::Tensor labels = at::one_hot(at::tensor({0L, 2L}), 3).to(at::kFloat);
  Features f;
  const at::Tensor d = model->denoise_labeled(x, s, labels, &f);
  check_close(d.to(at::kFloat), net->forward(x.to(at::kFloat), s.to(at::kFloat), labels), 1e-6, 1e-6, "loaded");
  BOOST_TEST(f.map.size(2) == 8);                  // the last block at 8×8 (level 0 of this tiny net)
  BOOST_CHECK_THROW(model->denoise(x, s), Error);  // conditional: labels are required
  // Converted copies compute the same function in float64.
  const ModelPtr f64 = model->converted(at::kDouble, at::kCPU);
  check_close(f64->denoise_labeled(x, s, labels), d, 1e-5, 1e-6, "float64 copy");
  // A corrupt file is refused with its name.
  {
    std::ofstream out(dir.file("bad.h5"));
    out << "nope";
  }
  BOOST_CHECK_THROW(load_unet(dir.file("bad.h5")), Error);
}

BOOST_AUTO_TEST_CASE(resumed_training_equals_an_uninterrupted_run) {
  TempDir dir;
  EdmTrainOptions o;
  o.steps = 6;
  o.batch = 4;
  o.warmup_steps = 3;
  o.checkpoint_every = 2;
  const at::Tensor data = images(10, 8, 1);
  EdmTrainer straight(tiny(), o, data);
  straight.train();
  // Interrupted after 3 steps (a checkpoint at step 2 and the final one at 3), then a fresh trainer resumes.
  {
    EdmTrainer first(tiny(), o, data);
    first.train(dir.file("ckpt"), {}, 3);
    BOOST_TEST(first.step() == 3);
  }
  EdmTrainer resumed(tiny(), o, data);
  resumed.train(dir.file("ckpt"));
  BOOST_TEST(resumed.step() == 6);
  BOOST_TEST(same_parameters(straight.net(), resumed.net()));
  BOOST_TEST(same_parameters(straight.ema(), resumed.ema()));
  BOOST_TEST(resumed.history().size() == 6u);
  for (size_t i = 0; i < 6; ++i) BOOST_TEST(resumed.history()[i].loss == straight.history()[i].loss);
  // Another seed trains differently (the check above is not vacuous).
  o.seed = 1;
  EdmTrainer other(tiny(), o, data);
  other.train();
  BOOST_TEST(!same_parameters(straight.net(), other.net()));
}

BOOST_AUTO_TEST_CASE(training_on_one_image_learns_its_optimal_denoiser) {
  // For the one-point distribution {y}, the optimal denoiser is D(x; σ) = y for every x and σ: the loss
  // falls and the trained net's D at moderate σ approaches y.
  EdmTrainOptions o;
  o.steps = 300;
  o.batch = 16;
  o.lr = 2e-3;
  o.warmup_steps = 20;
  o.ema_halflife_kimg = 0.5;
  const at::Tensor y = images(1, 8, 3);
  EdmTrainer t(tiny(), o, y);
  const double before = t.loss_at(1000);
  t.train();
  const double after = t.loss_at(1000);
  BOOST_TEST_MESSAGE("loss " << before << " -> " << after);
  BOOST_TEST(after < 0.1 * before);
  const at::Tensor s = at::full({4}, 1.0f);
  const at::Tensor x = y + at::randn({4, 1, 8, 8}) * 1.0;
  at::NoGradGuard g;
  const double err = (t.ema()->forward(x, s) - y).square().mean().sqrt().item<double>();
  const double skip_only = (x * 0.2 - y).square().mean().sqrt().item<double>();  // c_skip(1) = 0.2
  BOOST_TEST_MESSAGE("RMSE of D to y at σ = 1: " << err << " (untrained: " << skip_only << ")");
  BOOST_TEST(err < 0.2 * skip_only);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
