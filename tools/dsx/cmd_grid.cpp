// dsx grid: the first images of a sample file (or folder, dataset) as one PNG grid, quantised as EDM writes
// PNGs, so `dsx sample` output can be looked at.
#include <fmt/format.h>

#include "commands.h"
#include "data/image_grid.h"
#include "metrics/image_distance.h"

namespace dsx::cli {

Action add_grid(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("grid", "write the first images of a sample file, PNG folder or dataset as a PNG grid");
  struct Args {
    std::string in, out;
    int64_t count = 64, cols = 8, pad = 2;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("images", a->in,
                  "samples .h5 (dataset samples [N, C, H, W] in [-1, 1]), PNG folder, fashion_mnist[:split]")
      ->required();
  cmd->add_option("output", a->out, "the PNG to write")->required();
  cmd->add_option("--count", a->count, "images (the first ones)")->check(CLI::PositiveNumber);
  cmd->add_option("--cols", a->cols, "images per row")->check(CLI::PositiveNumber);
  cmd->add_option("--pad", a->pad, "white pixels between images")->check(CLI::NonNegativeNumber);
  return [a] {
    const at::Tensor images = read_operand_images(parse_image_operand(a->in), a->count);
    write_image_grid(a->out, images, a->cols, a->pad);
    fmt::print("wrote {}: {} images, {} per row\n", a->out, images.size(0), std::min(a->cols, images.size(0)));
    return 0;
  };
}

}  // namespace dsx::cli
