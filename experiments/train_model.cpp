// Stage `train_model`: an EDM-preconditioned UNet trained on an image dataset (nets/edm_training.h).
// Its artifact is model.h5 (the EMA weights, usable as `model: {kind: unet, file: ...}`) and loss.csv (the
// per-step loss). Training checkpoints live beside the cache entry until the model is committed, so a
// killed run resumes from its last checkpoint with the result of an uninterrupted one. `export: FILE`
// also copies the model there (on a cache hit too), for specs that sample the trained network.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "experiments/stages.h"
#include "nets/edm_training.h"
#include "nets/unet_model.h"
#include "pipeline/dataset_config.h"
#include "pipeline/run_dir.h"

namespace fs = std::filesystem;

namespace dsx {
namespace {

struct TrainModelSpec {
  DatasetSpec data;
  UNetOptions net;  // image_channels and resolution come from the data
  EdmTrainOptions train;
  std::string export_path;  // resolved; "" = none
};

const Schema& net_schema() {
  static const Schema s = {
      opt::integer("base_channels", 32, 8, 256, "channels at full resolution (a multiple of 8)"),
      opt::int_list("channel_mult", "[1, 2, 2]", "channel multiplier per level; each level halves the resolution"),
      opt::integer("blocks", 2, 1, 8, "residual blocks per encoder level (the decoder has one more)"),
      opt::int_list("attention_at", "[8]", "resolutions with self-attention"),
      opt::number("dropout", 0.0, 0.0, 0.9, "dropout in the residual blocks (EDM CIFAR-10: 0.13)"),
  };
  return s;
}

const Schema& train_model_schema() {
  static const Schema s = {
      opt::choice("kind", {"train_model"}, "train_model", "the stage kind"),
      opt::section("dataset", true, "", "the training images: {kind: fashion_mnist | hdf5 | image_folder, ...}"),
      opt::section("net", false, "", "the UNet: base_channels, channel_mult, blocks, attention_at, dropout"),
      opt::integer("steps", 20000, 1, 100000000, "Adam steps"),
      opt::integer("batch", 64, 1, 4096, "images per step"),
      opt::number("lr", 1e-3, 1e-7, 1.0, "Adam learning rate after warm-up (EDM CIFAR-10: 1e-3 at batch 512)"),
      opt::integer("warmup_steps", 200, 0, 10000000, "linear learning-rate warm-up"),
      opt::number("ema_halflife_kimg", 50.0, 0.001, 1e6,
                  "EMA half-life in thousands of images (EDM: 500 over 200 Mimg; shorter for short runs)"),
      opt::number("ema_rampup", 0.05, 0.0, 1.0, "EMA half-life at most this share of the images seen (0: off)"),
      opt::number("p_mean", -1.2, -10, 10, "mean of ln σ in training (EDM)"),
      opt::number("p_std", 1.2, 0.01, 10, "std of ln σ in training (EDM)"),
      opt::integer("seed", 0, 0, 1L << 40, "initial weights and every step's batch, σ and noise"),
      opt::integer("checkpoint_every", 1000, 0, 100000000, "steps between resumable checkpoints (0: end only)"),
      opt::path("export", "also write the trained model here (relative to the spec), e.g. for model: {kind: unet}"),
  };
  return s;
}

TrainModelSpec read_train_model(MapReader& r, const YamlSource& src) {
  const Schema& schema = train_model_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  TrainModelSpec t;
  t.data = read_dataset(src, r.node("dataset"), r.path("dataset"));
  if (r.has("net")) {
    MapReader n(src, r.node("net"), r.path("net"));
    const Schema& ns = net_schema();
    n.reject_unknown(key_names(ns));
    t.net.base_channels = read_int(n, ns, "base_channels");
    auto ints = [&](const std::string& key, std::vector<int64_t> fallback) {
      if (!n.has(key)) return fallback;
      std::vector<int64_t> out;
      for (double v : n.get_doubles(key)) {
        if (v != double(int64_t(v))) fail("{}: {} must be integers", n.where(key), n.path(key));
        out.push_back(int64_t(v));
      }
      return out;
    };
    t.net.channel_mult = ints("channel_mult", t.net.channel_mult);
    t.net.blocks = read_int(n, ns, "blocks");
    t.net.attention_at = ints("attention_at", t.net.attention_at);
    t.net.dropout = read_number(n, ns, "dropout");
    n.finish(key_names(ns));
    try {
      t.net.validate();
    } catch (const Error& e) {
      fail("{}: {}", r.where("net"), e.what());
    }
  }
  EdmTrainOptions& o = t.train;
  o.steps = read_int(r, schema, "steps");
  o.batch = read_int(r, schema, "batch");
  o.lr = read_number(r, schema, "lr");
  o.warmup_steps = read_int(r, schema, "warmup_steps");
  o.ema_halflife_kimg = read_number(r, schema, "ema_halflife_kimg");
  o.ema_rampup = read_number(r, schema, "ema_rampup");
  o.p_mean = read_number(r, schema, "p_mean");
  o.p_std = read_number(r, schema, "p_std");
  o.seed = uint64_t(read_int(r, schema, "seed"));
  o.checkpoint_every = read_int(r, schema, "checkpoint_every");
  if (r.has("export")) t.export_path = r.get_output_path("export");
  r.finish(key_names(schema));
  return t;
}

}  // namespace

StageKind train_model_stage() {
  StageKind k;
  k.name = "train_model";
  k.description = "train an EDM-preconditioned UNet on an image dataset (EMA weights → model.h5)";
  k.version = 1;
  k.schema = train_model_schema();
  k.needs_model = false;
  k.collective = true;  // data-parallel over the ranks of a multi-process run
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext&) {
    StageDef d;
    TrainModelSpec t = read_train_model(r, src);
    d.params = {{"dataset", t.data.source}, {"net", t.net.to_json()}, {"train", t.train.to_json()}};
    d.typed = t;
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const TrainModelSpec& t = stage_params<TrainModelSpec>(ctx.job);
    const std::shared_ptr<const ImageSet> data = load_dataset(t.data);
    UNetOptions net = t.net;
    net.image_channels = data->images.size(1);
    net.resolution = data->images.size(2);
    if (data->images.size(3) != net.resolution) fail("train_model: {} images are not square", data->description);
    EdmTrainer trainer(net, t.train, data->images, data->labels);
    ctx.log(fmt::format("  {}: UNet {} parameters on {}; {} steps of {}", ctx.job.label,
                        trainer.net()->parameter_count(), data->description, t.train.steps, t.train.batch));
    const std::string checkpoints = ctx.cache.root() + "/checkpoints/" + ctx.job.key.hex;
    const auto t0 = std::chrono::steady_clock::now();
    const dist::DataParallel dp{ctx.group};
    trainer.train(checkpoints, ctx.log, -1, dp);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto& h = trainer.history();
    double tail = 0;  // mean loss over the last 100 steps (one step's loss is noisy)
    const size_t n = std::min<size_t>(100, h.size());
    for (size_t i = h.size() - n; i < h.size(); ++i) tail += h[i].loss / double(n);
    const json summary = {{"steps", trainer.step()},      {"images_seen", trainer.step() * t.train.batch},
                          {"final_loss", tail},           {"images_per_second", trainer.images_per_second()},
                          {"seconds_this_run", seconds},  {"parameters", trainer.net()->parameter_count()},
                          {"dataset", data->description}, {"options", t.train.to_json()}};
    save_unet(ctx.out_dir + "/model.h5", trainer.ema(), summary);
    {
      std::ofstream csv(ctx.out_dir + "/loss.csv");
      csv << "step,loss,lr\n";
      for (const TrainStep& s : h) csv << fmt::format("{},{:.6g},{:.6g}\n", s.step, s.loss, s.lr);
      if (!csv) fail("{}/loss.csv: cannot write (disk full?)", ctx.out_dir);
    }
    ctx.log(fmt::format("  {}: {} steps, final loss {:.4g}, {:.1f} images/s", ctx.job.label, trainer.step(), tail,
                        trainer.images_per_second()));
    if (dp.rank() == 0) fs::remove_all(checkpoints);  // the model is complete; the commit follows
    return {{"model.h5", "loss.csv"}, summary};
  };
  k.publish = [](StageRun& ctx) {
    const TrainModelSpec& t = stage_params<TrainModelSpec>(ctx.job);
    const std::string model = ctx.cache.dir(ctx.job.key) + "/model.h5";
    if (ctx.run_dir) {
      stage_util::copy_atomically(model, ctx.run_dir->file(ctx.job.label + ".model.h5"));
      stage_util::copy_atomically(ctx.cache.dir(ctx.job.key) + "/loss.csv",
                                  ctx.run_dir->file(ctx.job.label + ".loss.csv"));
    }
    if (!t.export_path.empty()) {
      stage_util::copy_atomically(model, t.export_path);
      ctx.log(fmt::format("  {}: model exported to {}", ctx.job.label, t.export_path));
    }
  };
  return k;
}

}  // namespace dsx
