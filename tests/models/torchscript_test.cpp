// models/torchscript.h against the native mixture it scripts (tests/support/script_models.h): the same
// denoiser, features, samples of every solver and AMED steps to float64 rounding; the VP adapter's eps, x0
// and v forms; attributes, max_batch, precision conversion; and every bad module a clear error naming the file.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "amed/predictor.h"
#include "amed/student.h"
#include "core/error.h"
#include "core/noise.h"
#include "diffusion/schedule.h"
#include "models/model_pool.h"
#include "models/torchscript.h"
#include "solvers/solver.h"
#include "support/scratch.h"
#include "support/script_models.h"
#include "support/testbeds.h"

namespace dsx {
namespace {

using test::ScriptForm;

std::shared_ptr<GaussianMixture> mixture() {
  static std::shared_ptr<GaussianMixture> m = GaussianMixture::random(8, {3, 8, 8}, 5);
  return m;
}

ModelPtr scripted(const test::TempDir& dir, ScriptForm form, TorchScriptOptions o = {}) {
  o.file = dir.file("net.pt");
  test::save_script_mixture(*mixture(), form, o.file);
  if (form != ScriptForm::Denoised && !o.process) o.process = std::make_shared<VpLinearProcess>(0.1, 20.0);
  return load_torchscript(o);
}

at::Tensor latents(int64_t n) {
  return seeded_noise(
      [&] {
        std::vector<int64_t> s;
        for (int64_t i = 0; i < n; ++i) s.push_back(i);
        return s;
      }(),
      {3, 8, 8}, at::TensorOptions().dtype(at::kDouble));
}

double max_abs(const at::Tensor& a) { return a.abs().max().item<double>(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(torchscript_model)

BOOST_AUTO_TEST_CASE(denoised_form_equals_the_native_mixture_with_its_features) {
  test::TempDir dir;
  TorchScriptOptions o;
  o.features = "features";
  ModelPtr net = scripted(dir, ScriptForm::Denoised, o);
  // Shape and σ range come from the module's attributes; the buffers are float64.
  BOOST_TEST(net->info().sample_shape == (std::vector<int64_t>{3, 8, 8}));
  BOOST_TEST(net->info().sigma_min == 0.002);
  BOOST_TEST(net->info().sigma_max == 80.0);
  BOOST_TEST(net->info().dtype == at::kDouble);
  BOOST_TEST(net->has_features());
  at::Tensor x = latents(6) * 3.0;
  for (double s : {0.002, 0.3, 5.0, 80.0}) {
    Features a, b;
    at::Tensor want = mixture()->denoise(x, sigma_like(x, s), &a);
    at::Tensor got = net->denoise(x, sigma_like(x, s), &b);
    BOOST_TEST(max_abs(got - want) <= 1e-12, "σ = " << s);
    BOOST_TEST(max_abs(b.map - a.map) <= 1e-12, "σ = " << s);
  }
  // The fingerprint follows the file's bytes.
  ModelPtr again = scripted(dir, ScriptForm::Denoised, o);
  BOOST_TEST(again->info().fingerprint == net->info().fingerprint);
  BOOST_TEST(scripted(dir, ScriptForm::VpEps)->info().fingerprint != net->info().fingerprint);
}

BOOST_AUTO_TEST_CASE(every_solver_samples_the_same_as_on_the_native_mixture) {
  test::TempDir dir;
  ModelPtr net = scripted(dir, ScriptForm::Denoised);
  const at::Tensor x_T = 80.0 * latents(4);
  ScheduleSpec spec;
  spec.num_steps = 7;
  const std::vector<double> grid = make_schedule(spec);
  int solvers = 0;
  for (const SolverEntry& e : base_solver_entries()) {
    if (e.needs_file) continue;
    test::RunResult a = test::run_solver(e.name, {}, *mixture(), x_T, grid);
    test::RunResult b = test::run_solver(e.name, {}, *net, x_T, grid);
    BOOST_TEST(a.nfe == b.nfe, e.name);
    // 1e-10: the native mixture runs the fused kernel (models/mixture_kernel.h), the script the ATen formula;
    // the same math rounded differently (~1e-15), which the steps at small σ amplify.
    BOOST_TEST(max_abs(a.x - b.x) <= 1e-10, e.name << ": " << max_abs(a.x - b.x));
    ++solvers;
  }
  BOOST_TEST(solvers >= 10);
}

BOOST_AUTO_TEST_CASE(amed_steps_with_real_features_match) {
  test::TempDir dir;
  TorchScriptOptions o;
  o.features = "features";
  ModelPtr net = scripted(dir, ScriptForm::Denoised, o);
  ScheduleSpec spec;
  spec.kind = "time_uniform";
  spec.rho = 1;
  spec.num_steps = 4;
  const std::vector<double> grid = make_schedule(spec);
  const at::Tensor x_T = 80.0 * latents(3);
  for (const char* student : {"amed", "ipndm", "dpmpp"}) {
    AmedSettings s;
    s.student = student;
    s.schedule = spec;
    AmedPredictor p(0.05, 0.1);
    {
      at::NoGradGuard no_grad;
      for (auto& t : p->parameters()) t.copy_((0.9 * at::arange(t.numel(), at::kFloat) + 0.3).sin().reshape(t.sizes()));
    }
    AmedStudent native(s, grid, p, FeatureMode::Model), script(s, grid, p, FeatureMode::Model);
    at::Tensor xa = x_T, xb = x_T;
    for (int i = 0; i + 1 < int(grid.size()); ++i) {
      AmedOutput oa, ob;
      xa = native.step(*mixture(), xa, i, &oa);
      xb = script.step(*net, xb, i, &ob);
      BOOST_TEST(at::equal(oa.r, ob.r), student << " interval " << i);  // the features reached the predictor
      BOOST_TEST(max_abs(xa - xb) <= 1e-12, student << " interval " << i);
    }
    // The features really steer the predictor: zero features give other r.
    AmedStudent blind(s, grid, p, FeatureMode::Zero);
    AmedOutput oz, of;
    blind.step(*net, x_T, 0, &oz);
    script.step(*net, x_T, 0, &of);
    if (!s.afs) BOOST_TEST(!at::equal(oz.r, of.r));
  }
}

BOOST_AUTO_TEST_CASE(vp_networks_in_eps_x0_and_v_form_give_the_mixture_denoiser) {
  test::TempDir dir;
  const at::Tensor x = latents(5) * 2.0;
  for (ScriptForm form : {ScriptForm::VpEps, ScriptForm::VpX0, ScriptForm::VpV}) {
    TorchScriptOptions o;
    o.output = form == ScriptForm::VpEps ? NetOutput::Eps : form == ScriptForm::VpX0 ? NetOutput::X0 : NetOutput::V;
    ModelPtr net = scripted(dir, form, o);
    // The VP process gives the σ range: σ̂(t = 1e-3) and σ̂(1) of β 0.1 → 20.
    BOOST_TEST(net->info().sigma_max == VpLinearProcess(0.1, 20.0).sigma_hat(1.0), boost::test_tools::tolerance(1e-12));
    for (double s : {0.02, 0.7, 10.0, 150.0}) {
      at::Tensor want = mixture()->denoise(x, sigma_like(x, s));
      at::Tensor got = net->denoise(x, sigma_like(x, s));
      // Through t(σ̂) and back: float64 rounding, amplified by 1/σ̂ in the ε form at small σ.
      BOOST_TEST(max_abs(got - want) <= 1e-9 * (1 + 1 / s), to_string(o.output)
                                                                << " σ = " << s << ": " << max_abs(got - want));
    }
  }
}

BOOST_AUTO_TEST_CASE(max_batch_precision_and_pool) {
  test::TempDir dir;
  TorchScriptOptions o;
  o.features = "features";
  ModelPtr whole = scripted(dir, ScriptForm::Denoised, o);
  o.max_batch = 2;
  ModelPtr chunked = scripted(dir, ScriptForm::Denoised, o);
  const at::Tensor x = latents(5);
  Features a, b;
  BOOST_TEST(at::equal(whole->denoise(x, sigma_like(x, 1.5), &a), chunked->denoise(x, sigma_like(x, 1.5), &b)));
  BOOST_TEST(at::equal(a.map, b.map));
  // A float32 variant converts the module's buffers and leaves the float64 model as it was.
  ModelPool pool;
  ModelPtr f32 = pool.in_precision(whole, at::kFloat, at::kCPU);
  BOOST_TEST(f32->info().dtype == at::kFloat);
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor d32 = f32->denoise(xf, sigma_like(xf, 1.5));
  BOOST_TEST(d32.scalar_type() == at::kFloat);
  BOOST_TEST(max_abs(d32.to(at::kDouble) - whole->denoise(x, sigma_like(x, 1.5))) < 1e-4);
  BOOST_TEST(whole->denoise(x, sigma_like(x, 1.5)).scalar_type() == at::kDouble);
  BOOST_TEST(pool.in_precision(whole, at::kFloat, at::kCPU).get() == f32.get());
}

BOOST_AUTO_TEST_CASE(class_conditional_networks_get_the_labels_of_their_seeds) {
  test::TempDir dir;
  TorchScriptOptions o;
  o.num_classes = 3;
  ModelPtr net = scripted(dir, ScriptForm::Conditional, o);
  BOOST_TEST(net->num_classes() == 3);
  const at::Tensor x = latents(12);
  BOOST_TEST(test::error_message([&] { net->denoise(x, sigma_like(x, 1.0)); }).find("class-conditional") !=
             std::string::npos);
  std::vector<int64_t> seeds;
  for (int64_t s = 0; s < 12; ++s) seeds.push_back(s);
  const at::Tensor labels = class_labels(seeds, 3);
  BOOST_TEST(at::equal(labels.sum(1), at::ones({12}, at::kDouble)));  // one-hot
  BOOST_TEST(at::equal(class_labels({7}, 3)[0], labels[7]));          // a seed's class, whatever the batch
  BOOST_TEST((labels.sum(0) > 0).all().item<bool>());                 // 12 seeds reach every class
  // Sampling through the batch's view equals, row by row, the native mixture translated by its class.
  const SeededBatch batch(*net, seeds);
  ScheduleSpec spec;
  spec.num_steps = 6;
  const std::vector<double> grid = make_schedule(spec);
  const at::Tensor x_T = 80.0 * x;
  test::RunResult got = test::run_solver("ipndm", {}, batch, x_T, grid);
  for (int64_t c = 0; c < 3; ++c) {
    at::Tensor means = mixture()->means().reshape({-1, 3, 8, 8}) + 0.5 * double(c);
    GaussianMixture shifted(means, mixture()->stds(), mixture()->weights());
    test::RunResult want = test::run_solver("ipndm", {}, shifted, x_T, grid);
    at::Tensor rows = labels.select(1, c).to(at::kBool);
    BOOST_TEST(max_abs(got.x.index({rows}) - want.x.index({rows})) <= 1e-10, "class " << c);  // see above
  }
  TorchScriptOptions vp;
  vp.num_classes = 3;
  vp.output = NetOutput::Eps;
  vp.process = std::make_shared<VpLinearProcess>();
  vp.file = dir.file("net.pt");
  BOOST_TEST(test::error_message([&] { load_torchscript(vp); }).find("denoised (EDM) form only") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_decoder_maps_samples_to_images_in_every_precision) {
  test::TempDir dir;
  test::save_script_module("def forward(self, x):\n    return 2.0 * x.reshape(x.size(0), 3, 8, 8) + 1.0\n",
                           dir.file("dec.pt"));
  TorchScriptOptions o;
  o.decoder = dir.file("dec.pt");
  ModelPtr latent = scripted(dir, ScriptForm::Denoised, o);
  ModelPtr plain = scripted(dir, ScriptForm::Denoised);
  BOOST_TEST(latent->has_decoder());
  BOOST_TEST(!plain->has_decoder());
  BOOST_TEST(latent->info().fingerprint != plain->info().fingerprint);  // metrics of decoded samples differ
  const at::Tensor x = latents(3);
  BOOST_TEST(at::equal(latent->decode(x), 2.0 * x + 1.0));
  BOOST_TEST(at::equal(latent->denoise(x, sigma_like(x, 2.0)), plain->denoise(x, sigma_like(x, 2.0))));
  ModelPtr f32 = latent->converted(at::kFloat, at::kCPU);
  BOOST_TEST(f32->has_decoder());
  BOOST_TEST(f32->decode(x.to(at::kFloat)).scalar_type() == at::kFloat);
  test::save_script_module("def forward(self, x):\n    return x / 0.0\n", dir.file("nan.pt"));
  o.decoder = dir.file("nan.pt");
  BOOST_TEST(test::error_message([&] {
               scripted(dir, ScriptForm::Denoised, o);
             }).find("nan.pt: the decoder returned") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_modules_are_clear_errors_naming_the_file) {
  test::TempDir dir;
  auto load = [&](const std::string& source, TorchScriptOptions o = {}, std::vector<int64_t> shape = {4}) {
    o.file = dir.file("bad.pt");
    test::save_script_module(source, o.file, {}, shape);
    return test::error_message([&] { load_torchscript(o); });
  };
  auto has = [](const std::string& e, const std::string& part) {
    BOOST_TEST(e.find(part) != std::string::npos, "'" << part << "' not in: " << e);
  };
  const std::string good = "def forward(self, x, sigma):\n    return x\n";
  TorchScriptOptions o;
  o.file = dir.file("missing.pt");
  std::string e = test::error_message([&] { load_torchscript(o); });
  has(e, "missing.pt: file does not exist");
  std::ofstream(dir.file("junk.pt")) << "not a zip";
  o.file = dir.file("junk.pt");
  has(test::error_message([&] { load_torchscript(o); }), "junk.pt: not a TorchScript file");
  has(load("def other(self, x):\n    return x\n"), "bad.pt: the module has no forward method");
  TorchScriptOptions feats;
  feats.features = "bottleneck";
  has(load(good, feats), "bad.pt: the module has no method 'bottleneck'");
  has(load("def forward(self, x, sigma):\n    return x[:, :2]\n"), "bad.pt: the network returned [1, 2] for x [1, 4]");
  // The probe runs in the module's dtype (float32 without tensors of its own).
  has(load("def forward(self, x, sigma):\n    return x.double()\n"),
      "bad.pt: the network returned Double for Float input");
  has(load("def forward(self, x, sigma):\n    return x / 0.0 * 0.0\n"), "bad.pt: the network returned NaN/Inf");
  has(load("def forward(self, x, sigma):\n    return x.reshape(1, 2, 3)\n"), "bad.pt: the network failed on x [1, 4]");
  has(load(good, {}, {}), "bad.pt: give the sample shape");
  TorchScriptOptions small_map;
  small_map.features = "features";
  has(load(good + "def features(self, x, sigma):\n    return x, torch.zeros(1, 2, 4, 4)\n", small_map),
      "bad.pt: the feature map must be [B, C, 8, 8], got [1, 2, 4, 4]");
  has(load(good + "def features(self, x, sigma):\n    return x\n", small_map),
      "bad.pt: features(x, sigma) must return a tuple");
  TorchScriptOptions vp;
  vp.output = NetOutput::Eps;
  has(load(good, vp), "bad.pt: output eps needs a VP process");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
