// `dsx sample` with an AMED-Plugin solver through the real binary: nested `amed:` options, the predictor
// path relative to the config, NFE 2(N−1) − afs, features: zero, and settings disagreements.
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "amed_common.h"
#include "core/noise.h"
#include "models/gaussian_mixture.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/scratch.h"

namespace dsx::test {
namespace fs = std::filesystem;

namespace {

const std::string kConfig = R"(model:
  kind: gaussian_mixture
  file: gmm.h5
latents:
  file: z.h5
schedule:
  kind: polynomial
  num_steps: 4
solver:
  name: ipndm
  max_order: 4
  afs: true
  amed: {predictor: pred/p.h5}
precision: float32
output: out.h5
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(amed_cli)

BOOST_AUTO_TEST_CASE(sample_with_amed_plugin) {
  fs::path dir = fs::temp_directory_path() / ("dsx_amed_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir / "pred");
  auto file = [&](const std::string& n) { return (dir / n).string(); };
  GaussianMixture::random(3, {4}, 7)->save_h5(file("gmm.h5"));
  {
    h5::File f = h5::File::create(file("z.h5"));
    h5::write_tensor(f, "latents", seeded_noise({0, 1, 2, 3, 4}, {4}, at::TensorOptions().dtype(at::kDouble)));
  }
  AmedPredictor net = deterministic_predictor();
  save_predictor(net, nullptr, file("pred/p.h5"));
  std::ofstream(file("c.yaml")) << kConfig;

  Run r = run_dsx("sample " + file("c.yaml"));
  at::Tensor model_features;
  BOOST_TEST_CONTEXT(r.out) {
    BOOST_REQUIRE_EQUAL(r.code, 0);
    BOOST_TEST(r.out.find("nfe 5") != std::string::npos);
    h5::File f = h5::File::open(file("out.h5"));
    BOOST_TEST(f.attr_int("nfe") == 5);
    model_features = h5::read_tensor(f, "samples");
    BOOST_TEST((model_features.sizes() == at::IntArrayRef{5, 4}));
    BOOST_TEST(at::isfinite(model_features).all().item<bool>());
  }
  // features: zero via --set on the nested key gives a different (finite) result.
  r = run_dsx("sample " + file("c.yaml") + " --set solver.amed.features=zero");
  BOOST_TEST_CONTEXT(r.out) {
    BOOST_REQUIRE_EQUAL(r.code, 0);
    at::Tensor zero = h5::read_tensor(h5::File::open(file("out.h5")), "samples");
    BOOST_TEST((zero - model_features).abs().max().item<double>() > 1e-6);
  }
  // A missing predictor is reported with the YAML location of the key.
  r = run_dsx("sample " + file("c.yaml") + " --set solver.amed.predictor=nowhere.h5");
  BOOST_TEST(r.code != 0);
  BOOST_TEST(r.out.find("solver.amed.predictor") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("does not exist") != std::string::npos, r.out);
  // Settings in the file: the schedule and max_order must agree.
  AmedSettings s;
  s.student = "ipndm";
  s.schedule.kind = "polynomial";
  s.schedule.num_steps = 4;
  s.afs = true;
  s.max_order = 4;
  save_predictor(net, &s, file("pred/p.h5"));
  r = run_dsx("sample " + file("c.yaml"));
  BOOST_TEST(r.code == 0, r.out);
  r = run_dsx("sample " + file("c.yaml") + " --set solver.max_order=3");
  BOOST_TEST(r.code != 0);
  BOOST_TEST(r.out.find("max_order = 4") != std::string::npos, r.out);
  r = run_dsx("sample " + file("c.yaml") + " --set schedule.num_steps=5");
  BOOST_TEST(r.code != 0);
  BOOST_TEST(r.out.find("4-point grid") != std::string::npos, r.out);
  // An unknown key inside amed: is an error naming it.
  r = run_dsx("sample " + file("c.yaml") + " --set solver.amed.predicter=x.h5");
  BOOST_TEST(r.code != 0);
  BOOST_TEST(r.out.find("amed.predicter") != std::string::npos, r.out);
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
