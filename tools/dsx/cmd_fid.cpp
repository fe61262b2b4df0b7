// dsx fid: distribution metrics between two image sets through a feature extractor, in the spirit of
// `python -m pytorch_fid A B`. Prints `fd VALUE` (and `kid MEAN STD`, `precision P`, `recall R`), one per
// line, or one JSON object with --json. --save-stats writes A's statistics as an .npz (mu, sigma) that EDM's
// fid.py and pytorch-fid read.
#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "core/error.h"
#include "metrics/frechet.h"
#include "metrics/image_distance.h"
#include "metrics/kid.h"
#include "metrics/precision_recall.h"

namespace dsx::cli {
namespace {

struct Args {
  std::string a, b, features, inception, classifier, save_stats;
  bool pixels = false, kid = false, pr = false, json = false;
  int64_t batch = 250, channels = 0, pr_k = 3;
  KidOptions kid_options;
};

ImageFeatures chosen_features(const Args& a) {
  const int chosen = int(!a.features.empty()) + int(!a.inception.empty()) + int(!a.classifier.empty()) + int(a.pixels);
  if (chosen != 1)
    fail(
        "choose one feature extractor: --features FILE.pt (forward(x in [-1, 1]) -> [N, F]), --inception FILE.pt "
        "(the inception-2015-12-05.pt interface), --classifier FILE.h5 (dsx's train_classifier) or --pixels");
  if (a.pixels) return load_image_features("pixels");
  if (!a.classifier.empty()) return load_image_features("classifier", a.classifier);
  return a.features.empty() ? load_image_features("inception", a.inception)
                            : load_image_features("torchscript", a.features);
}

}  // namespace

Action add_fid(CLI::App& app) {
  auto* cmd = app.add_subcommand("fid", "FD/FID (and KID, precision/recall) between two image sets");
  auto a = std::make_shared<Args>();
  cmd->add_option("A", a->a, "generated images: samples .h5, PNG folder, fashion_mnist[:split] or stats .npz")
      ->required();
  cmd->add_option("B", a->b, "reference images, same kinds (optional with --save-stats)");
  cmd->add_option("--features", a->features, "TorchScript feature network: forward(x [N,C,H,W] in [-1,1]) -> [N,F]");
  cmd->add_option("--inception", a->inception,
                  "Inception-v3 TorchScript with the inception-2015-12-05.pt interface (uint8 input, 2048-d)");
  cmd->add_option("--classifier", a->classifier, "dsx's classifier (train_classifier's classifier.h5): 256-d features");
  cmd->add_flag("--pixels", a->pixels, "use the raw pixels as features");
  cmd->add_flag("--kid", a->kid, "also KID (cubic polynomial kernel MMD², mean and std over subsets)");
  cmd->add_flag("--pr", a->pr, "also precision and recall (k-NN manifolds)");
  cmd->add_flag("--json", a->json, "print one JSON object instead of lines");
  cmd->add_option("--batch", a->batch, "images per feature batch")->check(CLI::PositiveNumber);
  cmd->add_option("--channels", a->channels,
                  "channels PNG folders are read with (default: as the other operand, else 3)")
      ->check(CLI::Range(1, 3));
  cmd->add_option("--kid-subsets", a->kid_options.subsets, "KID subsets (StyleGAN3 default 100)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--kid-subset-size", a->kid_options.subset_size, "rows per KID subset (default 1000)")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 40));
  cmd->add_option("--kid-seed", a->kid_options.seed, "seed of the KID subset draws");
  cmd->add_option("--pr-k", a->pr_k, "neighbourhood size k of precision/recall (default 3)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--save-stats", a->save_stats, "write A's feature statistics (mu, sigma) to this .npz");
  return [a] {
    if (a->b.empty() && a->save_stats.empty()) fail("dsx fid needs two operands A B (or A with --save-stats FILE.npz)");
    const ImageOperand op_a = parse_image_operand(a->a);
    const std::optional<ImageOperand> op_b = a->b.empty() ? std::nullopt : std::optional(parse_image_operand(a->b));
    // Two statistics files need no extractor: their features were computed when they were written.
    const bool stats_only = op_a.kind == ImageOperand::Kind::Statistics && op_b &&
                            op_b->kind == ImageOperand::Kind::Statistics && a->features.empty() &&
                            a->inception.empty() && a->classifier.empty() && !a->pixels;
    const ImageFeatures features =
        stats_only ? ImageFeatures{"(from the statistics files)", "", {}} : chosen_features(*a);
    const bool pairwise = a->kid || a->pr;
    for (const ImageOperand* op : {&op_a, op_b ? &*op_b : static_cast<const ImageOperand*>(nullptr)})
      if (op && pairwise && op->kind == ImageOperand::Kind::Statistics)
        fail("{}: KID and precision/recall need images; a statistics file supports FD only", op->text);
    if (op_a.kind == ImageOperand::Kind::Statistics && !a->save_stats.empty())
      fail("{}: --save-stats needs images as A, not a statistics file", op_a.text);

    SummaryOptions so;
    so.keep_features = pairwise;
    so.batch = a->batch;
    so.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    // Folders take the channel count of the other operand's images when not given.
    const int64_t other =
        a->channels ? a->channels : std::max(operand_channels(op_a), op_b ? operand_channels(*op_b) : 0);
    so.channels = other ? other : 3;
    const FeatureSummary sa = summarize_operand(op_a, features, so);
    if (!a->save_stats.empty()) {
      write_reference_stats(a->save_stats, sa.fit);
      std::fprintf(stderr, "wrote %s: mu [%lld], sigma of %lld images (%s)\n", a->save_stats.c_str(),
                   static_cast<long long>(sa.fit.mean.size(0)), static_cast<long long>(sa.count),
                   features.name.c_str());
    }
    if (!op_b) return 0;
    const FeatureSummary sb = summarize_operand(*op_b, features, so);
    if (sa.fit.mean.size(0) != sb.fit.mean.size(0))
      fail("{} has {} features but {} has {} (statistics from another extractor?)", op_a.text, sa.fit.mean.size(0),
           op_b->text, sb.fit.mean.size(0));

    nlohmann::json out;
    out["fd"] = frechet_distance(sa.fit, sb.fit);
    if (a->kid) {
      const KidValue k = kernel_inception_distance(sa.features, sb.features, a->kid_options);
      out["kid_mean"] = k.mean;
      out["kid_std"] = k.std;
    }
    if (a->pr) {
      const PrecisionRecall p = precision_recall(sa.features, sb.features, a->pr_k);
      out["precision"] = p.precision;
      out["recall"] = p.recall;
    }
    if (sa.count) out["count_a"] = sa.count;
    if (sb.count) out["count_b"] = sb.count;
    out["features"] = features.name;
    if (a->json) {
      fmt::print("{}\n", out.dump());
      return 0;
    }
    fmt::print("fd {:.10g}\n", out["fd"].get<double>());
    if (a->kid) fmt::print("kid {:.10g} {:.10g}\n", out["kid_mean"].get<double>(), out["kid_std"].get<double>());
    if (a->pr)
      fmt::print("precision {:.10g}\nrecall {:.10g}\n", out["precision"].get<double>(), out["recall"].get<double>());
    return 0;
  };
}

}  // namespace dsx::cli
