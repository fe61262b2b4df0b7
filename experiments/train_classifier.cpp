// Stage `train_classifier`: dsx's feature network for image metrics (nets/classifier.h), a small CNN trained
// on labelled images and scored on a held-out set. Its artifact classifier.h5 is what `dsx fid --classifier`
// and the evaluate stage's classifier FD read; `export: FILE` copies it out of the cache (on hits too).
#include <fmt/format.h>

#include "core/error.h"
#include "experiments/stages.h"
#include "nets/classifier.h"
#include "nets/seeded_init.h"
#include "pipeline/dataset_config.h"
#include "pipeline/run_dir.h"

namespace dsx {
namespace {

struct TrainClassifierSpec {
  DatasetSpec train, test;
  ClassifierTrainOptions options;
  double min_accuracy = 0;
  std::string export_path;
};

const Schema& train_classifier_schema() {
  static const Schema s = {
      opt::choice("kind", {"train_classifier"}, "train_classifier", "the stage kind"),
      opt::section("dataset", true, "", "labelled training images (32×32): {kind: fashion_mnist, split: train}"),
      opt::section("test", true, "", "labelled held-out images: {kind: fashion_mnist, split: test}"),
      opt::integer("epochs", 3, 1, 1000, "passes over the training images"),
      opt::integer("batch", 128, 1, 4096, "images per Adam step"),
      opt::number("lr", 2e-3, 1e-6, 1.0, "Adam learning rate"),
      opt::integer("seed", 0, 0, 1L << 40, "initial weights and each epoch's shuffle"),
      opt::number("min_accuracy", 0.0, 0.0, 1.0, "fail (and cache nothing) below this test accuracy"),
      opt::path("export", "also write classifier.h5 here (relative to the spec), for dsx fid --classifier"),
  };
  return s;
}

}  // namespace

StageKind train_classifier_stage() {
  StageKind k;
  k.name = "train_classifier";
  k.description = "train dsx's CNN feature network for image metrics (classifier FD) on labelled images";
  k.version = 1;
  k.schema = train_classifier_schema();
  k.needs_model = false;
  k.collective = true;  // data-parallel over the ranks of a multi-process run (BatchNorm over the global batch)
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext&) {
    const Schema& schema = train_classifier_schema();
    r.reject_unknown(key_names(schema));
    require_keys(r, schema);
    r.get_string("kind");
    TrainClassifierSpec t;
    t.train = read_dataset(src, r.node("dataset"), r.path("dataset"));
    t.test = read_dataset(src, r.node("test"), r.path("test"));
    t.options.epochs = read_int(r, schema, "epochs");
    t.options.batch = read_int(r, schema, "batch");
    t.options.lr = read_number(r, schema, "lr");
    t.options.seed = uint64_t(read_int(r, schema, "seed"));
    t.min_accuracy = read_number(r, schema, "min_accuracy");
    if (r.has("export")) t.export_path = r.get_output_path("export");
    r.finish(key_names(schema));
    StageDef d;
    d.params = {{"dataset", t.train.source},
                {"test", t.test.source},
                {"train", t.options.to_json()},
                {"min_accuracy", t.min_accuracy}};
    d.typed = t;
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const TrainClassifierSpec& t = stage_params<TrainClassifierSpec>(ctx.job);
    const auto train = load_dataset(t.train), test = load_dataset(t.test);
    if (!train->labels.defined() || !test->labels.defined())
      fail("train_classifier: {} and {} must both have labels", train->description, test->description);
    ClassifierOptions o;
    o.image_channels = train->images.size(1);
    o.resolution = train->images.size(2);
    o.classes = std::max(train->labels.max().item<int64_t>(), test->labels.max().item<int64_t>()) + 1;
    Classifier net = seeded(t.options.seed, [&] { return Classifier(o); });
    const ClassifierReport rep = train_classifier(net, t.options, train->images, train->labels, test->images,
                                                  test->labels, ctx.log, dist::DataParallel{ctx.group});
    ctx.log(fmt::format("  {}: test accuracy {:.4f} on {}, {:.0f} images/s", ctx.job.label, rep.test_accuracy,
                        test->description, rep.images_per_second));
    if (rep.test_accuracy < t.min_accuracy)
      fail("train_classifier: test accuracy {:.4f} is below min_accuracy {:.4f}", rep.test_accuracy, t.min_accuracy);
    const json report = {
        {"test_accuracy", rep.test_accuracy},         {"train_loss", rep.train_loss}, {"steps", rep.steps},
        {"images_per_second", rep.images_per_second}, {"train", train->description},  {"test", test->description}};
    save_classifier(ctx.out_dir + "/classifier.h5", net, report);
    return {{"classifier.h5"}, report};
  };
  k.publish = [](StageRun& ctx) {
    const TrainClassifierSpec& t = stage_params<TrainClassifierSpec>(ctx.job);
    const std::string file = ctx.cache.dir(ctx.job.key) + "/classifier.h5";
    if (ctx.run_dir) stage_util::copy_atomically(file, ctx.run_dir->file(ctx.job.label + ".classifier.h5"));
    if (!t.export_path.empty()) {
      stage_util::copy_atomically(file, t.export_path);
      ctx.log(fmt::format("  {}: classifier exported to {}", ctx.job.label, t.export_path));
    }
  };
  return k;
}

}  // namespace dsx
