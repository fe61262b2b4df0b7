#include "amed/trainer.h"

#include <torch/optim/adam.h>

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "store/h5.h"
#include "store/schedule_attrs.h"
#include "store/tensor_h5.h"

namespace dsx {

bool single_step_student(const std::string& student) {
  return student == "amed" || student == "euler" || student == "dpm2";
}

AmedSettings settings_from_trajectories(const std::string& path, const Denoiser& model, AmedSettings s) {
  h5::File f = h5::File::open(path);
  if (!f.has_attr("complete") || f.attr_int("complete") != 1)
    fail("{}: trajectory file is incomplete (no 'complete' flag): regenerate it", path);
  if (f.attr_string("model_fingerprint") != model.info().fingerprint)
    fail("{}: trajectories were made with model {}, this model is {}", path, f.attr_string("model_fingerprint"),
         model.info().fingerprint);
  s.schedule = h5::read_schedule_attrs(f, "schedule_");
  s.teacher = f.attr_string("teacher");
  s.m = int(f.attr_int("m"));
  std::vector<double> stored = f.read_double("sigmas");
  std::vector<double> rebuilt = make_schedule(s.schedule, model.info().process.get());
  if (stored.size() != rebuilt.size()) fail("{}: sigmas do not match the schedule attributes", path);
  for (size_t i = 0; i < stored.size(); ++i)
    if (!same_sigma(stored[i], rebuilt[i]))
      fail("{}: sigma[{}] = {} but the schedule attributes give {}", path, i, stored[i], rebuilt[i]);
  return s;
}

TrajectoryFile::TrajectoryFile(std::string path) : path_(std::move(path)), file_(h5::File::open(path_)) {}
int64_t TrajectoryFile::size() const { return file_.info("states").shape[0]; }
at::Tensor TrajectoryFile::states(int64_t first, int64_t count, at::ScalarType dtype) const {
  return h5::read_rows(file_, "states", first, count, dtype);
}
std::vector<int64_t> TrajectoryFile::seeds(int64_t first, int64_t count) const {
  at::Tensor s = h5::read_rows(file_, "seeds", first, count, at::kLong).contiguous();
  return std::vector<int64_t>(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
}

TrainReport train_amed(const TrainSpec& spec, const ModelPtr& model, at::Device device, const std::string& trajectories,
                       AmedPredictor& net, const std::function<void(const TrainStepLog&)>& on_step) {
  settings_from_trajectories(trajectories, *model, spec.settings);  // checks `complete` before reading rows
  return train_amed(spec, model, device, TrajectoryFile(trajectories), net, on_step);
}

TrainReport train_amed(const TrainSpec& spec, const ModelPtr& model_in, at::Device device,
                       const TrajectorySource& source, AmedPredictor& net,
                       const std::function<void(const TrainStepLog&)>& on_step, const dist::DataParallel& dp) {
  const ModelPtr run_model = in_precision(model_in, spec.dtype, device);
  const Denoiser& model = *run_model;
  TrainReport report;
  const std::string trajectories = source.attributes_path();
  report.settings = settings_from_trajectories(trajectories, model, spec.settings);
  report.settings.features = feature_mode_name(spec.features);
  const AmedSettings& settings = report.settings;
  if (spec.batch < 1) fail("train.batch = {} must be >= 1", spec.batch);
  if (!(spec.lr > 0)) fail("train.lr = {} must be positive", spec.lr);
  h5::File f = h5::File::open(trajectories);
  const int64_t available = source.size();
  const int64_t n = spec.max_samples > 0 ? std::min(spec.max_samples, available) : available;
  if (n < 1) fail("{}: no trajectories", trajectories);
  const std::vector<double> sigmas = f.read_double("sigmas");
  const int intervals = int(sigmas.size()) - 1;

  if (spec.features == FeatureMode::Pooled && !net->pools()) {  // one weight per channel of the model's feature
    Features probe;
    const SeededBatch one(model, {0});
    std::vector<int64_t> shape = {1};
    shape.insert(shape.end(), model.info().sample_shape.begin(), model.info().sample_shape.end());
    const auto opts = at::TensorOptions().dtype(model.info().dtype).device(model.info().device);
    one.denoise(at::zeros(shape, opts), at::ones({1}, opts), &probe);
    if (!probe.map.defined()) fail("train.features: pooled needs a model with a feature map");
    net->enable_pooling(probe.map.size(1));
  }
  net->to(device, spec.dtype);
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(spec.lr).betas({0.9, 0.999}).eps(1e-8));
  AmedStudent student(settings, sigmas, net, spec.features);
  student.keep_graph(spec.joint);
  const bool teacher_forcing = single_step_student(settings.student) && !spec.joint;
  // One process: the batch mean, as the official code. Data-parallel: this rank's rows' sum over the global
  // batch size, the gradients (and the loss, for the log) summed over the ranks before the step.
  auto adam_step = [&](const at::Tensor& loss, double& logged) {
    adam.zero_grad();
    if (loss.requires_grad()) loss.backward();
    std::vector<double> scalars = {logged};
    dp.sum_gradients(net->parameters(), scalars);
    logged = scalars[0];
    for (auto& p : net->parameters())
      if (p.grad().defined()) p.mutable_grad() = at::nan_to_num(p.grad(), 0.0, 1e5, -1e5);
    adam.step();
    ++report.adam_steps;
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t first = 0, it = 0; first < n; first += spec.batch, ++it) {
    const int64_t count = std::min(spec.batch, n - first);
    const auto [lo, hi] = dp.share(count);
    const int64_t mine = hi - lo;  // this rank's rows of the batch (all of them for one process)
    at::Tensor states = source.states(first + lo, mine, spec.dtype).to(device);  // [B, P, ...]
    student.reset();
    const SeededBatch batch(model, source.seeds(first + lo, mine));  // a conditional model's labels
    at::Tensor x = states.select(1, 0), total;
    double total_logged = 0;
    for (int k = 0; k < intervals; ++k) {
      AmedOutput out;
      at::Tensor loss;
      at::Tensor target = states.select(1, k + 1);
      if (mine > 0) {
        at::Tensor x_next = student.step(batch, x, k, &out);
        const at::Tensor per_sample = (x_next - target).square().reshape({mine, -1}).sum(1);
        loss = dp.active() ? per_sample.sum() / double(count) : per_sample.mean();
        x = spec.joint ? x_next : teacher_forcing ? target : x_next.detach();
      } else {  // fewer rows than ranks: this rank adds zeros to the sums
        loss = at::zeros({}, at::TensorOptions().dtype(spec.dtype).device(device));
      }
      double logged = loss.item<double>();
      if (spec.joint) {
        total = total.defined() ? total + loss : loss;
        total_logged += logged;
      } else {
        adam_step(loss, logged);
      }
      if (on_step && mine > 0) {
        TrainStepLog log;
        log.iteration = it;
        log.step = k;
        log.loss = logged;  // per step: the global batch's; joint: this rank's part
        log.r_mean = out.r.mean().item<double>();
        log.r_std = out.r.numel() > 1 ? out.r.std().item<double>() : 0.0;
        log.c_mean = out.c.mean().item<double>();
        log.a_mean = out.a.mean().item<double>();
        on_step(log);
      }
    }
    if (spec.joint) adam_step(total, total_logged);
    report.samples += count;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace dsx
