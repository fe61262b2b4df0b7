// AMED predictor: time embedding, forward pass against the official golden values (docs/amed.md §12.2),
// parameter counts and initialisation (§6), and the HDF5 weights file.
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "amed_common.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/check.h"

namespace dsx::test {
namespace fs = std::filesystem;

namespace {

at::Tensor golden_bottleneck() {  // h[b,i,j] = sin(0.1·(64b + 8i + j)), B = 2
  return (0.1 * at::arange(128, at::kDouble)).sin().reshape({2, 8, 8}).to(at::kFloat);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(predictor)

BOOST_AUTO_TEST_CASE(time_embedding_matches_official_raw_pe) {
  // §12.2 raw PE(80) = [cos(80 f), sin(80 f)]; the predictor uses it swapped to [sin, cos].
  const std::vector<double> raw = {-0.11038724, -0.84099430, 0.98518366, 0.99996799,
                                   -0.99388868, -0.54104400, 0.17150268, 0.00799991};
  at::Tensor e = amed_time_embedding(80.0, at::TensorOptions().dtype(at::kFloat));
  BOOST_TEST((e.sizes() == at::IntArrayRef{1, 8}));
  std::vector<double> swapped(raw.begin() + 4, raw.end());
  swapped.insert(swapped.end(), raw.begin(), raw.begin() + 4);
  check_close(e.reshape({8}), swapped, 0, 2e-7, "PE'(80)");
}

BOOST_AUTO_TEST_CASE(forward_matches_official) {
  AmedPredictor net = deterministic_predictor();
  at::NoGradGuard no_grad;
  struct Row {
    double s, t;
    std::vector<double> r, c, a;
  };
  const std::vector<Row> rows = {
      {80, 6.9502778, {0.45242015, 0.45125964}, {0.99716818, 0.99715340}, {1.06509590, 1.06575286}},
      {6.9502778, 1.2866811, {0.43361825, 0.43246788}, {0.99771219, 0.99769700}, {1.06323552, 1.06389689}},
      {1.2866811, 0.0020132351, {0.43514243, 0.43399107}, {0.99682921, 0.99681479}, {1.07663441, 1.07726121}},
  };
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT("(" << row.s << ", " << row.t << ")") {
      AmedOutput o = net->forward(golden_bottleneck(), double(float(row.s)), double(float(row.t)));
      BOOST_TEST((o.r.sizes() == at::IntArrayRef{2}));
      check_close(o.r, row.r, 2e-6, 0, "r");
      check_close(o.c, row.c, 2e-6, 0, "c");
      check_close(o.a, row.a, 2e-6, 0, "a");
    }
  }
  AmedOutput z = net->forward(at::zeros({1, 8, 8}), 80.0, double(6.9502778f));
  check_close(z.r, std::vector<double>{0.45258632}, 2e-6, 0, "zero bottleneck r");
  check_close(z.c, std::vector<double>{0.99716729}, 2e-6, 0, "zero bottleneck c");
  check_close(z.a, std::vector<double>{1.06505001}, 2e-6, 0, "zero bottleneck a");
}

BOOST_AUTO_TEST_CASE(absent_heads_give_ones) {
  AmedPredictor net = deterministic_predictor(0, 0);
  AmedOutput o = net->forward(golden_bottleneck(), 80.0, double(6.9502778f));
  BOOST_TEST(at::equal(o.c, at::ones({2})));
  BOOST_TEST(at::equal(o.a, at::ones({2})));
  // r does not depend on the heads (same parameters p = 0..7).
  check_close(o.r, std::vector<double>{0.45242015, 0.45125964}, 2e-6, 0, "r without heads");
}

BOOST_AUTO_TEST_CASE(parameter_counts_and_names) {
  BOOST_TEST(AmedPredictor(0, 0)->parameter_count() == 8929);
  BOOST_TEST(AmedPredictor(0.01, 0)->parameter_count() == 8950);
  BOOST_TEST(AmedPredictor(0, 0.2)->parameter_count() == 8950);
  BOOST_TEST(AmedPredictor(0.01, 0.2)->parameter_count() == 8971);
  std::vector<std::string> names;
  for (const auto& p : AmedPredictor(0.01, 0.2)->named_parameters()) names.push_back(p.key());
  const std::vector<std::string> official = {
      "map_layer0.weight",   "map_layer0.bias",   "enc_layer0.weight",    "enc_layer0.bias",
      "enc_layer1.weight",   "enc_layer1.bias",   "fc_r.weight",          "fc_r.bias",
      "fc_scale_dir.weight", "fc_scale_dir.bias", "fc_scale_time.weight", "fc_scale_time.bias"};
  BOOST_TEST(names == official, boost::test_tools::per_element());
  BOOST_TEST((AmedPredictor(0.01, 0.2)->enc_layer0->weight.sizes() == at::IntArrayRef{128, 64}));  // [out, in]
}

BOOST_AUTO_TEST_CASE(official_initialisation) {
  at::manual_seed(3);
  AmedPredictor net(0.01, 0.2);
  // map_layer0: xavier_uniform U(±sqrt(6/16)); the rest kaiming_normal N(0, 1/fan_in); all biases 0.
  BOOST_TEST(net->map_layer0->weight.abs().max().item<double>() <= std::sqrt(6.0 / 16.0));
  BOOST_TEST(net->map_layer0->weight.std().item<double>() > 0.2);
  for (auto* l : {&net->enc_layer0, &net->enc_layer1, &net->fc_r, &net->fc_scale_dir, &net->fc_scale_time})
    BOOST_TEST((*l)->bias.abs().max().item<double>() == 0.0);
  BOOST_TEST(net->map_layer0->bias.abs().max().item<double>() == 0.0);
  // 8192 draws of N(0, 1/64): sample std within 3 % of 1/8 (not torch's kaiming gain √2 → 0.177).
  BOOST_TEST(std::abs(net->enc_layer0->weight.std().item<double>() - 0.125) < 0.125 * 0.03);
  BOOST_TEST(std::abs(net->enc_layer1->weight.std().item<double>() - std::sqrt(1.0 / 128)) < 0.09 * 0.03 + 0.005);
}

BOOST_AUTO_TEST_CASE(weights_file_round_trip_with_settings) {
  TempDir tmp;
  at::manual_seed(11);
  AmedPredictor net(0.01, 0.2);
  AmedSettings s;
  s.student = "ipndm";
  s.teacher = "ipndm";
  s.m = 2;
  s.schedule.kind = "polynomial";
  s.schedule.num_steps = 4;
  s.schedule.rho = 7;
  s.afs = true;
  s.max_order = 4;
  s.predict_x0 = false;
  s.lower_order_final = false;
  save_predictor(net, &s, tmp.file("p.h5"));
  // Official names, [out, in], float32, plus attributes.
  {
    h5::File f = h5::File::open(tmp.file("p.h5"));
    BOOST_TEST((f.info("enc_layer0.weight").shape == std::vector<int64_t>{128, 64}));
    BOOST_TEST((f.info("fc_scale_time.bias").shape == std::vector<int64_t>{1}));
    BOOST_TEST(f.attr_double("scale_dir") == 0.01);
    BOOST_TEST(f.attr_double("scale_time") == 0.2);
    BOOST_TEST(f.attr_string("student") == "ipndm");
  }
  LoadedPredictor lp = load_predictor(tmp.file("p.h5"));
  BOOST_REQUIRE(lp.settings.has_value());
  const AmedSettings& t = *lp.settings;
  BOOST_TEST(t.student == "ipndm");
  BOOST_TEST(t.teacher == "ipndm");
  BOOST_TEST(t.m == 2);
  BOOST_TEST(t.schedule.kind == "polynomial");
  BOOST_TEST(t.schedule.num_steps == 4);
  BOOST_TEST(t.schedule.sigma_min == 0.002);
  BOOST_TEST(t.schedule.sigma_max == 80.0);
  BOOST_TEST(t.schedule.rho == 7.0);
  BOOST_TEST(t.schedule.k == 3.1);
  BOOST_TEST(t.schedule.eps_s == 1e-3);
  BOOST_TEST(t.afs);
  BOOST_TEST(t.max_order == 4);
  BOOST_TEST(!t.predict_x0);
  BOOST_TEST(!t.lower_order_final);
  BOOST_TEST(t.scale_dir == 0.01);
  BOOST_TEST(t.scale_time == 0.2);
  auto a = net->named_parameters(), b = lp.net->named_parameters();
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (const auto& p : a) BOOST_TEST(at::equal(p.value(), b[p.key()]), p.key());
  at::NoGradGuard no_grad;
  for (double s0 : {80.0, 3.0}) {
    AmedOutput x = net->forward(golden_bottleneck(), s0, 0.5), y = lp.net->forward(golden_bottleneck(), s0, 0.5);
    BOOST_TEST(at::equal(x.r, y.r));
    BOOST_TEST(at::equal(x.c, y.c));
    BOOST_TEST(at::equal(x.a, y.a));
  }
  // Explicit schedules keep their grid.
  s.schedule.kind = "explicit";
  s.schedule.sigmas = {80.0, 5.0, 0.3, 0.002};
  save_predictor(net, &s, tmp.file("e.h5"));
  BOOST_TEST(load_predictor(tmp.file("e.h5")).settings->schedule.sigmas == s.schedule.sigmas,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(parameters_only_file_loads) {
  TempDir tmp;
  AmedPredictor net = deterministic_predictor(0.01, 0);
  {
    // Written by hand, as a converter from an official pickle would: parameters + the two scale attributes.
    h5::File f = h5::File::create(tmp.file("p.h5"));
    for (const auto& p : net->named_parameters()) h5::write_tensor(f, p.key(), p.value().detach());
    f.set_attr("scale_dir", 0.01);
    f.set_attr("scale_time", 0.0);
  }
  LoadedPredictor lp = load_predictor(tmp.file("p.h5"));
  BOOST_TEST(!lp.settings.has_value());
  BOOST_TEST(lp.net->parameter_count() == 8950);
  BOOST_TEST(lp.net->fc_scale_time.is_empty());
  at::NoGradGuard no_grad;
  BOOST_TEST(at::equal(lp.net->forward(golden_bottleneck(), 80, 7).r, net->forward(golden_bottleneck(), 80, 7).r));
  // save_predictor without settings writes the same kind of file.
  save_predictor(net, nullptr, tmp.file("q.h5"));
  BOOST_TEST(!load_predictor(tmp.file("q.h5")).settings.has_value());
}

BOOST_AUTO_TEST_CASE(bad_files_are_clear_errors) {
  TempDir tmp;
  AmedPredictor net = deterministic_predictor(0.01, 0.2);
  {
    h5::File f = h5::File::create(tmp.file("noattr.h5"));
    for (const auto& p : net->named_parameters()) h5::write_tensor(f, p.key(), p.value().detach());
  }
  BOOST_TEST(error_of([&] { load_predictor(tmp.file("noattr.h5")); }).find("'scale_dir' not found") !=
             std::string::npos);
  {
    h5::File f = h5::File::create(tmp.file("missing.h5"));
    f.set_attr("scale_dir", 0.01);
    f.set_attr("scale_time", 0.2);
    h5::write_tensor(f, "map_layer0.weight", at::zeros({8, 8}, at::kFloat));
  }
  BOOST_TEST(error_of([&] { load_predictor(tmp.file("missing.h5")); }).find("'map_layer0.bias' not found") !=
             std::string::npos);
  {
    h5::File f = h5::File::create(tmp.file("shape.h5"));
    for (const auto& p : net->named_parameters()) h5::write_tensor(f, p.key(), p.value().detach().t().contiguous());
    f.set_attr("scale_dir", 0.01);
    f.set_attr("scale_time", 0.2);
  }
  BOOST_TEST(error_of([&] { load_predictor(tmp.file("shape.h5")); }).find("has shape [64, 128]") != std::string::npos);
  {
    // fc_scale_time stored but scale_time = 0: inconsistent, not silently dropped.
    h5::File f = h5::File::create(tmp.file("head.h5"));
    for (const auto& p : net->named_parameters()) h5::write_tensor(f, p.key(), p.value().detach());
    f.set_attr("scale_dir", 0.01);
    f.set_attr("scale_time", 0.0);
  }
  BOOST_TEST(error_of([&] { load_predictor(tmp.file("head.h5")); }).find("head is disabled") != std::string::npos);
  // An interrupted save leaves nothing at the path (atomic write).
  BOOST_TEST(error_of([&] { save_predictor(net, nullptr, tmp.file("no_dir/p.h5")); }) != "");
  BOOST_TEST(!fs::exists(tmp.file("no_dir/p.h5")));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
