#pragma once
// EDM training of a UNet on an image set (Karras et al. 2022, §5 and appendix B.6):
//   σ = exp(P_mean + P_std·n), n ~ N(0, 1);  loss = λ(σ)·|D(y + σ·ε; σ) − y|², λ = (σ² + σd²)/(σ·σd)²
// (mean over elements), Adam with a linear learning-rate warm-up, NaN/Inf gradients zeroed (EDM's
// nan_to_num), and EMA weights with EDM's half-life in images and its ramp-up (the half-life is at most
// ema_rampup × images seen).
//
// Deterministic and resumable: step k draws its batch indices, σ and noise from a generator seeded by
// (seed, k), so a run that restarts from a checkpoint (weights, EMA, Adam moments, step, log) continues
// exactly as an uninterrupted run would (tests/nets checks bitwise equality).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "dist/data_parallel.h"
#include "nets/unet.h"

namespace dsx {

struct EdmTrainOptions {
  int64_t steps = 20000;
  int64_t batch = 64;
  double lr = 1e-3;
  int64_t warmup_steps = 200;
  double ema_halflife_kimg = 50.0;  // EDM CIFAR-10: 500 (for 200 Mimg); short runs need a shorter memory
  double ema_rampup = 0.05;         // EDM's ema_rampup_ratio (0: off)
  double p_mean = -1.2, p_std = 1.2;
  int64_t checkpoint_every = 1000;  // steps (0: only at the end)
  uint64_t seed = 0;
  nlohmann::json to_json() const;
};

struct TrainStep {
  int64_t step;  // 1-based
  double loss, lr;
};

class EdmTrainer {
 public:
  // images [N, C, H, W] float32 in [−1, 1]; labels [N] int64 (class-conditional nets) or undefined.
  EdmTrainer(const UNetOptions& net, const EdmTrainOptions& o, at::Tensor images, at::Tensor labels = {});
  using Log = std::function<void(const std::string&)>;
  // Trains up to `until` steps (default: all). With a checkpoint folder, resumes from the checkpoint in it
  // and writes one every checkpoint_every steps and at the end (atomically: a kill never leaves half a
  // checkpoint). `log` gets progress lines with loss, images/s and ETA. With `dp` active (a multi-process run)
  // every rank calls it and trains its part of each batch (dist/data_parallel.h); rank 0 alone writes
  // checkpoints, every rank resumes from them (the folder is on the shared cache). Without dropout the weights
  // equal a one-process run's to rounding; with dropout each rank draws the masks of its own rows.
  void train(const std::string& checkpoint_dir = "", const Log& log = {}, int64_t until = -1,
             const dist::DataParallel& dp = {});
  int64_t step() const { return step_; }
  UNet& net() { return net_; }
  UNet& ema() { return ema_; }
  const std::vector<TrainStep>& history() const { return history_; }
  double images_per_second() const { return images_per_s_; }
  // One training step's loss on the current weights without updating them (for tests).
  double loss_at(int64_t step);

 private:
  struct Batch {
    at::Tensor y, sigma, noise, labels;
  };
  Batch draw(int64_t step) const;
  at::Tensor loss(const Batch& b);
  // Rows [first, last) of the batch: their share of the batch mean (the sum of their per-image means over B).
  at::Tensor loss_share(const Batch& b, int64_t first, int64_t last);
  void save_checkpoint(const std::string& dir) const;
  bool load_checkpoint(const std::string& dir);

  EdmTrainOptions o_;
  at::Tensor images_, labels_;
  UNet net_{nullptr}, ema_{nullptr};
  std::shared_ptr<void> adam_;  // torch::optim::Adam (kept out of this header)
  int64_t step_ = 0;
  std::vector<TrainStep> history_;
  double images_per_s_ = 0;
};

}  // namespace dsx
