// Sample grids: every cell of the tiled picture holds exactly its image's uint8 values (EDM's quantisation),
// the padding is white, and the PNG written reads back to the same pixels.
#include <boost/test/unit_test.hpp>

#include "core/error.h"
#include "data/image_grid.h"
#include "data/png_io.h"
#include "support/scratch.h"

namespace dsx::test {

BOOST_AUTO_TEST_SUITE(image_grid)

BOOST_AUTO_TEST_CASE(grid_pixels_equal_the_samples) {
  at::Generator g = at::detail::createCPUGenerator(4);
  for (int64_t c : {1, 3}) {
    const at::Tensor x = at::rand({5, c, 6, 7}, g, at::kFloat) * 2.2 - 1.1;  // some values outside [−1, 1]
    const int64_t cols = 2, pad = 3;
    const at::Tensor grid = tile_images(x, cols, pad);
    BOOST_TEST(grid.sizes().vec() == std::vector<int64_t>({c, 3 * (6 + pad) + pad, 2 * (7 + pad) + pad}));
    at::Tensor covered = at::zeros({grid.size(1), grid.size(2)}, at::kBool);
    for (int64_t i = 0; i < 5; ++i) {
      const int64_t top = pad + (i / cols) * (6 + pad), left = pad + (i % cols) * (7 + pad);
      const at::Tensor cell = grid.narrow(1, top, 6).narrow(2, left, 7);
      // floor(clamp(x·127.5 + 128)) computed here independently, element by element in double
      const at::Tensor expected = (x[i].to(at::kDouble) * 127.5 + 128).clamp(0, 255).floor().to(at::kByte);
      BOOST_TEST(at::equal(cell, expected), "cell " << i);
      covered.narrow(0, top, 6).narrow(1, left, 7).fill_(true);
    }
    // Everything not covered by an image (padding and the empty sixth cell) is white.
    BOOST_TEST((grid.select(0, 0).masked_select(~covered) == 255).all().item<bool>());
    TempDir dir;
    write_image_grid(dir.file("g.png"), x, cols, pad);
    BOOST_TEST(at::equal(read_png(dir.file("g.png"), int(c)), grid));
  }
  BOOST_TEST(to_uint8_images(at::tensor({-1.0f, 0.0f, 1.0f})).to(at::kLong).sum().item<int64_t>() == 0 + 128 + 255);
  BOOST_CHECK_THROW(tile_images(at::zeros({2, 1, 4}), 2), Error);
  BOOST_CHECK_THROW(write_image_grid("/tmp/x.png", at::zeros({2, 2, 4, 4}), 2), Error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
