// AMED predictor: architecture, initialisation and HDF5 weights file (docs/amed.md §6).
#include "amed/predictor.h"

#include <cmath>

#include <torch/nn/init.h>

#include "core/error.h"
#include "models/denoiser.h"
#include "nets/module_io.h"
#include "store/h5.h"
#include "store/schedule_attrs.h"
#include "store/tensor_h5.h"

namespace dsx {

// EDM PositionalEmbedding(8, endpoint=True) of the raw σ: [cos(σ f_k), sin(σ f_k)], f_k = 10000^(−k/3),
// computed in the parameters' dtype as the official code does in float32; then swapped to [sin, cos].
at::Tensor amed_time_embedding(double sigma, const at::TensorOptions& opts) {
  at::Tensor freqs = at::arange(0, 4, opts) / 3.0;
  freqs = at::pow(at::Scalar(1.0 / 10000.0), freqs);
  at::Tensor arg = at::full({1, 1}, sigma, opts) * freqs.unsqueeze(0);  // [1, 4]
  return at::cat({arg.sin(), arg.cos()}, 1);                            // swapped: [sin, cos]
}

namespace {

void init_kaiming_normal(torch::nn::Linear& l) {
  // EDM weight_init('kaiming_normal'): N(0, 1/fan_in) (not torch's default gain √2); bias 0.
  const double fan_in = double(l->weight.size(1));
  l->weight.normal_(0.0, std::sqrt(1.0 / fan_in));
  l->bias.zero_();
}

const char* kParamOrder[] = {"map_layer0", "enc_layer0", "enc_layer1", "fc_r", "fc_scale_dir", "fc_scale_time"};

}  // namespace

AmedPredictorImpl::AmedPredictorImpl(double scale_dir, double scale_time)
    : scale_dir_(scale_dir), scale_time_(scale_time) {
  if (!(scale_dir >= 0 && scale_dir < 1) || !(scale_time >= 0 && scale_time < 1))
    fail("AMED predictor: scale_dir = {} and scale_time = {} must be in [0, 1)", scale_dir, scale_time);
  map_layer0 = register_module("map_layer0", torch::nn::Linear(8, 8));
  enc_layer0 = register_module("enc_layer0", torch::nn::Linear(64, 128));
  enc_layer1 = register_module("enc_layer1", torch::nn::Linear(128, 4));
  fc_r = register_module("fc_r", torch::nn::Linear(20, 1));
  if (scale_dir > 0) fc_scale_dir = register_module("fc_scale_dir", torch::nn::Linear(20, 1));
  if (scale_time > 0) fc_scale_time = register_module("fc_scale_time", torch::nn::Linear(20, 1));
  at::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(map_layer0->weight);
  map_layer0->bias.zero_();
  for (auto* l : {&enc_layer0, &enc_layer1, &fc_r, &fc_scale_dir, &fc_scale_time})
    if (!l->is_empty()) init_kaiming_normal(*l);
}

AmedOutput AmedPredictorImpl::forward(const at::Tensor& h, double sigma_cur, double sigma_next) {
  const at::TensorOptions opts = map_layer0->weight.options();
  const int64_t b = h.size(0);
  if (h.numel() != b * 64)
    fail("AMED predictor: the bottleneck input must be [B, 8, 8], got {}", shape_text(h.sizes()));
  at::Tensor z = enc_layer1(at::silu(enc_layer0(h.reshape({b, 64}).to(opts))));   // [B, 4]
  at::Tensor e_cur = at::silu(map_layer0(amed_time_embedding(sigma_cur, opts)));  // [1, 8]
  at::Tensor e_next = at::silu(map_layer0(amed_time_embedding(sigma_next, opts)));
  at::Tensor f = at::cat({z, e_cur.expand({b, 8}), e_next.expand({b, 8})}, 1);  // [B, 20]
  AmedOutput out;
  out.r = at::sigmoid(fc_r(f)).squeeze(1);
  out.c = scale_dir_ > 0 ? 2 * scale_dir_ * at::sigmoid(fc_scale_dir(f)).squeeze(1) + (1 - scale_dir_)
                         : at::ones({b}, opts);
  out.a = scale_time_ > 0 ? 2 * scale_time_ * at::sigmoid(fc_scale_time(f)).squeeze(1) + (1 - scale_time_)
                          : at::ones({b}, opts);
  return out;
}

void AmedPredictorImpl::enable_pooling(int64_t channels) {
  if (pools()) fail("AMED predictor: pooling is enabled already");
  if (channels < 1) fail("AMED predictor: pooling over {} channels", channels);
  pool = register_parameter("pool", at::zeros({channels}, map_layer0->weight.options()));
}

int64_t AmedPredictorImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void save_predictor(AmedPredictor& net, const AmedSettings* settings, const std::string& path) {
  h5::AtomicPath out(path);
  {
    h5::File f = h5::File::create(out.temp());
    write_parameters(f, *net);
    f.set_attr("scale_dir", net->scale_dir());
    f.set_attr("scale_time", net->scale_time());
    if (settings) {
      const AmedSettings& s = *settings;
      f.set_attr("student", s.student);
      f.set_attr("teacher", s.teacher);
      f.set_attr("m", int64_t(s.m));
      h5::write_schedule_attrs(f, s.schedule, "");
      f.set_attr("afs", int64_t(s.afs));
      f.set_attr("max_order", int64_t(s.max_order));
      f.set_attr("predict_x0", int64_t(s.predict_x0));
      f.set_attr("lower_order_final", int64_t(s.lower_order_final));
      if (!s.base_options.empty()) f.set_attr("base_options", s.base_options);
      f.set_attr("features", s.features);
    }
    f.close();
  }
  out.commit();
}

LoadedPredictor load_predictor(const std::string& path) {
  h5::File f = h5::File::open(path);
  for (const char* a : {"scale_dir", "scale_time"})
    if (!f.has_attr(a))
      fail(
          "{}: attribute '{}' not found (an AMED predictor file holds the parameters "
          "and the attributes scale_dir, scale_time)",
          path, a);
  LoadedPredictor out;
  out.net = AmedPredictor(f.attr_double("scale_dir"), f.attr_double("scale_time"));
  if (f.has("pool")) out.net->enable_pooling(f.info("pool").shape.at(0));
  read_parameters(f, *out.net);
  // A head stored in the file but switched off by its attribute is an inconsistent file, not silently dropped.
  for (const char* head : kParamOrder) {
    std::string w = std::string(head) + ".weight";
    if (f.has(w) && !out.net->named_parameters().contains(w))
      fail("{}: dataset '{}' is present but its head is disabled (scale_dir = {}, scale_time = {})", path, w,
           out.net->scale_dir(), out.net->scale_time());
  }
  if (f.has_attr("student")) {
    AmedSettings s;
    try {
      s.student = f.attr_string("student");
      s.teacher = f.attr_string("teacher");
      s.m = int(f.attr_int("m"));
      s.schedule = h5::read_schedule_attrs(f, "");
      s.afs = f.attr_int("afs") != 0;
      s.max_order = int(f.attr_int("max_order"));
      s.predict_x0 = f.attr_int("predict_x0") != 0;
      s.lower_order_final = f.attr_int("lower_order_final") != 0;
      if (f.has_attr("base_options")) s.base_options = f.attr_string("base_options");
      if (f.has_attr("features")) s.features = f.attr_string("features");
    } catch (const Error& e) {
      fail("{}: incomplete AMED settings (attribute 'student' present): {}", path, e.what());
    }
    s.scale_dir = out.net->scale_dir();
    s.scale_time = out.net->scale_time();
    out.settings = s;
  }
  return out;
}

}  // namespace dsx
