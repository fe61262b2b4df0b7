#include "nets/edm_training.h"

#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/progress.h"
#include "models/denoiser.h"
#include "nets/module_io.h"
#include "nets/seeded_init.h"
#include "store/h5.h"

namespace fs = std::filesystem;

namespace dsx {
namespace {

torch::optim::Adam& adam_of(const std::shared_ptr<void>& p) { return *static_cast<torch::optim::Adam*>(p.get()); }

// The generator of step k: a splitmix of (seed, k), so steps are independent of how a run was split.
at::Generator step_generator(uint64_t seed, int64_t step) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + uint64_t(step) + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return at::detail::createCPUGenerator(z ^ (z >> 31));
}

void copy_parameters(UNet& to, UNet& from) {
  at::NoGradGuard no_grad;
  auto src = from->named_parameters();
  for (auto& p : to->named_parameters()) p.value().copy_(src[p.key()]);
}

}  // namespace

nlohmann::json EdmTrainOptions::to_json() const {
  return {{"steps", steps},
          {"batch", batch},
          {"lr", lr},
          {"warmup_steps", warmup_steps},
          {"ema_halflife_kimg", ema_halflife_kimg},
          {"ema_rampup", ema_rampup},
          {"p_mean", p_mean},
          {"p_std", p_std},
          {"seed", seed}};
}

EdmTrainer::EdmTrainer(const UNetOptions& net, const EdmTrainOptions& o, at::Tensor images, at::Tensor labels)
    : o_(o), images_(std::move(images)), labels_(std::move(labels)) {
  if (!images_.defined() || images_.dim() != 4 || images_.size(0) < 1)
    fail("train_model: the training images must be [N, C, H, W]");
  if (images_.size(1) != net.image_channels || images_.size(2) != net.resolution || images_.size(3) != net.resolution)
    fail("train_model: images are {}, the net takes [*, {}, {}, {}]", shape_text(images_.sizes()), net.image_channels,
         net.resolution, net.resolution);
  if (net.num_classes > 0 && !labels_.defined()) fail("train_model: a class-conditional net needs labelled data");
  if (o.steps < 1 || o.batch < 1) fail("train_model: steps and batch must be >= 1");
  images_ = images_.to(at::kFloat).contiguous();
  net_ = seeded(o.seed, [&] { return UNet(net); });  // the initial weights
  ema_ = UNet(net);
  copy_parameters(ema_, net_);
  for (at::Tensor p : ema_->parameters()) p.requires_grad_(false);
  adam_ = std::make_shared<torch::optim::Adam>(net_->parameters(),
                                               torch::optim::AdamOptions(o.lr).betas({0.9, 0.999}).eps(1e-8));
}

EdmTrainer::Batch EdmTrainer::draw(int64_t step) const {
  at::Generator g = step_generator(o_.seed, step);
  Batch b;
  const at::Tensor idx = at::randint(images_.size(0), {o_.batch}, g, at::kLong);
  b.y = images_.index_select(0, idx);
  b.sigma = (o_.p_mean + o_.p_std * at::randn({o_.batch}, g, at::kFloat)).exp();
  b.noise = at::randn(b.y.sizes(), g, at::kFloat) * b.sigma.reshape({-1, 1, 1, 1});
  if (net_->options().num_classes > 0)
    b.labels = at::one_hot(labels_.index_select(0, idx), net_->options().num_classes).to(at::kFloat);
  return b;
}

at::Tensor EdmTrainer::loss(const Batch& b) {
  const double sd = net_->options().sigma_data;
  const at::Tensor s = b.sigma.reshape({-1, 1, 1, 1});
  const at::Tensor weight = (s * s + sd * sd) / (s * sd).square();
  const at::Tensor d = net_->forward(b.y + b.noise, b.sigma, b.labels);
  return (weight * (d - b.y).square()).mean();
}

at::Tensor EdmTrainer::loss_share(const Batch& b, int64_t first, int64_t last) {
  const double sd = net_->options().sigma_data;
  const int64_t n = last - first;
  const at::Tensor y = b.y.narrow(0, first, n), sigma = b.sigma.narrow(0, first, n);
  const at::Tensor s = sigma.reshape({-1, 1, 1, 1});
  const at::Tensor weight = (s * s + sd * sd) / (s * sd).square();
  const at::Tensor d = net_->forward(y + b.noise.narrow(0, first, n), sigma,
                                     b.labels.defined() ? b.labels.narrow(0, first, n) : at::Tensor());
  return (weight * (d - y).square()).reshape({n, -1}).mean(1).sum() / double(b.y.size(0));
}

double EdmTrainer::loss_at(int64_t step) {
  at::NoGradGuard no_grad;
  return loss(draw(step)).item<double>();
}

void EdmTrainer::train(const std::string& dir, const Log& log, int64_t until, const dist::DataParallel& dp) {
  const int64_t last = until < 0 ? o_.steps : std::min(until, o_.steps);
  if (!dir.empty() && load_checkpoint(dir) && log)
    log("train_model: resumed at step " + std::to_string(step_) + " from " + dir);
  net_->train();
  torch::optim::Adam& adam = adam_of(adam_);
  std::unique_ptr<ProgressLine> progress;
  if (log) progress = std::make_unique<ProgressLine>("train_model", "images", (last - step_) * o_.batch, log, 30.0);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t first = step_;
  while (step_ < last) {
    const int64_t k = step_ + 1;
    if (net_->options().dropout > 0) at::manual_seed(uint64_t(k) * 7919 + o_.seed);
    const double lr = o_.lr * std::min(1.0, double(k) / double(std::max<int64_t>(o_.warmup_steps, 1)));
    for (auto& group : adam.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    adam.zero_grad();
    const auto [lo, hi] = dp.share(o_.batch);
    at::Tensor l = !dp.active() ? loss(draw(k))
                   : hi > lo    ? loss_share(draw(k), lo, hi)
                                : at::zeros({});  // fewer images than ranks: this rank adds zeros
    if (l.requires_grad()) l.backward();
    std::vector<double> logged = {l.item<double>()};
    dp.sum_gradients(net_->parameters(), logged);  // nothing for one process
    for (at::Tensor p : net_->parameters())
      if (p.grad().defined()) p.grad().nan_to_num_(0.0, 0.0, 0.0);
    adam.step();
    // EMA with EDM's half-life in images, ramped up over the first images.
    const double seen = double(k * o_.batch);
    double halflife = o_.ema_halflife_kimg * 1000.0;
    if (o_.ema_rampup > 0) halflife = std::min(halflife, seen * o_.ema_rampup);
    const double beta = std::pow(0.5, double(o_.batch) / std::max(halflife, 1e-8));
    {
      at::NoGradGuard no_grad;
      auto src = net_->named_parameters();
      for (auto& p : ema_->named_parameters()) p.value().copy_(src[p.key()].detach().lerp(p.value(), beta));
    }
    step_ = k;
    history_.push_back({k, logged[0], lr});
    if (progress) progress->advance(o_.batch);
    if (!dir.empty() && dp.rank() == 0 && o_.checkpoint_every > 0 && k % o_.checkpoint_every == 0 && k < last)
      save_checkpoint(dir);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (step_ > first && seconds > 0) images_per_s_ = double((step_ - first) * o_.batch) / seconds;
  if (progress) progress->finish();
  net_->eval();
  if (!dir.empty() && dp.rank() == 0 && step_ > first) save_checkpoint(dir);
}

// A checkpoint is a folder `ckpt` in `dir`: weights.h5 (net/ and ema/), adam.pt (torch::save of the
// optimizer: moments and step counts), state.json (step, loss log). It is written as ckpt.tmp and renamed
// into place; the previous one survives as ckpt.old until the rename is done.
void EdmTrainer::save_checkpoint(const std::string& dir) const {
  const fs::path root(dir), tmp = root / "ckpt.tmp", cur = root / "ckpt", old = root / "ckpt.old";
  fs::create_directories(root);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  {
    h5::File f = h5::File::create((tmp / "weights.h5").string());
    write_parameters(f, *net_, "net/");
    write_parameters(f, *ema_, "ema/");
    f.close();
  }
  torch::save(adam_of(adam_), (tmp / "adam.pt").string());
  nlohmann::json state = {{"step", step_}, {"options", o_.to_json()}};
  nlohmann::json& h = state["history"] = nlohmann::json::array();
  for (const TrainStep& s : history_) h.push_back({s.step, s.loss, s.lr});
  {
    std::ofstream out(tmp / "state.json");
    out << state.dump();
    if (!out) fail("{}: cannot write the checkpoint (disk full?)", (tmp / "state.json").string());
  }
  fs::remove_all(old);
  if (fs::exists(cur)) fs::rename(cur, old);
  fs::rename(tmp, cur);
  fs::remove_all(old);
}

bool EdmTrainer::load_checkpoint(const std::string& dir) {
  fs::path cur = fs::path(dir) / "ckpt";
  if (!fs::exists(cur / "state.json") && fs::exists(fs::path(dir) / "ckpt.old" / "state.json"))
    cur = fs::path(dir) / "ckpt.old";  // killed between the two renames
  if (!fs::exists(cur / "state.json")) return false;
  nlohmann::json state;
  {
    std::ifstream in(cur / "state.json");
    state = nlohmann::json::parse(in, nullptr, false);
  }
  if (state.is_discarded() || !state.contains("step"))
    fail("{}: unreadable checkpoint state", (cur / "state.json").string());
  if (state["options"] != o_.to_json())
    fail("{}: the checkpoint was written with other training options ({}); remove the folder to start over",
         cur.string(), state["options"].dump());
  {
    h5::File f = h5::File::open((cur / "weights.h5").string());
    read_parameters(f, *net_, "net/");
    read_parameters(f, *ema_, "ema/");
  }
  torch::load(adam_of(adam_), (cur / "adam.pt").string());
  step_ = state["step"];
  history_.clear();
  for (const auto& r : state["history"]) history_.push_back({r[0], r[1], r[2]});
  return true;
}

}  // namespace dsx
