// data/: the gzipped IDX reader against files written here with zlib, Debian's Fashion-MNIST against its
// published facts (60 000 / 10 000 images, 6 000 / 1 000 per class, 28×28 padded to 32×32 with −1), PNG
// round trips and the image_folder and hdf5 sources, each bad input a clear error naming the file.
#include <zlib.h>

#include <filesystem>

#include "core/error.h"
#include "data/idx.h"
#include "data/images.h"
#include "data/png_io.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/scratch.h"

namespace dsx {
namespace {

namespace fs = std::filesystem;

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  BOOST_REQUIRE(f);
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_bytes(const std::vector<int64_t>& shape, const std::vector<uint8_t>& values) {
  std::vector<uint8_t> b{0, 0, 0x08, uint8_t(shape.size())};
  for (int64_t n : shape)
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t((n >> s) & 0xff));
  b.insert(b.end(), values.begin(), values.end());
  return b;
}

const DatasetKind& kind(const std::string& name) {
  for (const auto& k : dataset_kinds())
    if (k.name == name) return k;
  BOOST_FAIL("no dataset kind " << name);
  throw;
}

ImageSet load(const std::string& name, const std::map<std::string, std::string>& values, int64_t limit = 0) {
  std::map<std::string, RawOption> raw;
  for (const auto& [k, v] : values) raw[k] = {v, "test"};
  return load_images(kind(name), Options::resolve(kind(name).options, raw, "dataset."), limit);
}

bool has_fashion_mnist() { return fs::exists(fs::path(kFashionMnistDir) / "t10k-images-idx3-ubyte.gz"); }

}  // namespace

BOOST_AUTO_TEST_SUITE(idx)

BOOST_AUTO_TEST_CASE(reads_what_zlib_wrote_and_names_every_fault) {
  test::TempDir dir;
  std::vector<uint8_t> values;
  for (int i = 0; i < 2 * 3 * 4; ++i) values.push_back(uint8_t(7 * i));
  write_gz(dir.file("ok.gz"), idx_bytes({2, 3, 4}, values));
  at::Tensor t = read_idx_gz(dir.file("ok.gz"));
  BOOST_TEST((t.sizes() == at::IntArrayRef{2, 3, 4}));
  BOOST_TEST(t.scalar_type() == at::kByte);
  BOOST_TEST(t[1][2][3].item<int>() == 7 * 23 % 256);
  std::vector<uint8_t> cut = idx_bytes({2, 3, 4}, values);
  cut.resize(cut.size() - 5);
  write_gz(dir.file("cut.gz"), cut);
  BOOST_TEST(test::error_message([&] { read_idx_gz(dir.file("cut.gz")); }).find("cut.gz: truncated") !=
             std::string::npos);
  write_gz(dir.file("magic.gz"), {1, 2, 3, 4, 5});
  BOOST_TEST(test::error_message([&] { read_idx_gz(dir.file("magic.gz")); }).find("not an IDX file") !=
             std::string::npos);
  BOOST_TEST(test::error_message([&] { read_idx_gz(dir.file("none.gz")); }).find("none.gz: cannot open") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(image_sources)

BOOST_AUTO_TEST_CASE(fashion_mnist_matches_its_published_facts) {
  BOOST_REQUIRE_MESSAGE(has_fashion_mnist(), "install dataset-fashion-mnist (tools/install-deps.sh does)");
  ImageSet test = load("fashion_mnist", {{"split", "test"}});
  BOOST_TEST(test.size() == 10000);
  BOOST_TEST((test.sample_shape() == std::vector<int64_t>{1, 32, 32}));
  BOOST_TEST(test.images.min().item<float>() == -1.0f);
  BOOST_TEST(test.images.max().item<float>() == 1.0f);
  // The 2-pixel pad is background (−1); every class has exactly 1 000 test images.
  BOOST_TEST(at::all(test.images.narrow(3, 0, 2) == -1).item<bool>());
  BOOST_TEST(at::equal(at::bincount(test.labels), at::full({10}, 1000, at::kLong)));
  ImageSet train = load("fashion_mnist", {{"split", "train"}, {"pad", "0"}}, 600);
  BOOST_TEST(train.size() == 600);
  BOOST_TEST((train.sample_shape() == std::vector<int64_t>{1, 28, 28}));
  BOOST_TEST(train.labels[0].item<int64_t>() == 9);  // the first training image is an ankle boot
  BOOST_TEST(train.fingerprint != test.fingerprint);
  BOOST_TEST(load("fashion_mnist", {{"split", "train"}, {"pad", "0"}}, 600).fingerprint == train.fingerprint);
  std::string e = test::error_message([] { load("fashion_mnist", {{"root", "/nonexistent"}}); });
  BOOST_TEST(e.find("apt-get install dataset-fashion-mnist") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(png_round_trip_and_image_folder) {
  test::TempDir dir;
  fs::create_directories(dir.file("imgs"));
  at::Tensor a = at::arange(3 * 5 * 4, at::kLong).remainder(256).to(at::kByte).reshape({3, 5, 4});
  at::Tensor b = at::full({3, 5, 4}, 200, at::kByte);
  write_png(dir.file("imgs/b.png"), b);  // written out of order: the folder is read in name order
  write_png(dir.file("imgs/a.png"), a);
  BOOST_TEST(at::equal(read_png(dir.file("imgs/a.png"), 3), a));
  ImageSet s = load("image_folder", {{"dir", dir.file("imgs")}});
  BOOST_TEST(s.size() == 2);
  BOOST_TEST(at::allclose(s.images[0], a.to(at::kFloat) / 127.5 - 1));
  BOOST_TEST(!s.labels.defined());
  ImageSet grey = load("image_folder", {{"dir", dir.file("imgs")}, {"channels", "1"}});
  BOOST_TEST((grey.sample_shape() == std::vector<int64_t>{1, 5, 4}));
  write_png(dir.file("imgs/c.png"), at::zeros({3, 6, 4}, at::kByte));
  std::string e = test::error_message([&] { load("image_folder", {{"dir", dir.file("imgs")}}); });
  BOOST_TEST(e.find("c.png: size [3, 6, 4] differs") != std::string::npos, e);
  std::ofstream(dir.file("imgs/d.png")) << "not a png";
  fs::remove(dir.file("imgs/c.png"));
  e = test::error_message([&] { load("image_folder", {{"dir", dir.file("imgs")}}); });
  BOOST_TEST(e.find("d.png: not a readable PNG") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(hdf5_bytes_floats_and_labels) {
  test::TempDir dir;
  at::Tensor bytes = at::randint(0, 256, {4, 1, 2, 2}, at::kLong);
  {
    h5::File f = h5::File::create(dir.file("d.h5"));
    h5::write_tensor(f, "images", bytes);
    h5::write_tensor(f, "floats", bytes.to(at::kDouble) / 127.5 - 1);
    h5::write_tensor(f, "labels", at::arange(4, at::kLong));
  }
  ImageSet a = load("hdf5", {{"file", dir.file("d.h5")}, {"labels", "labels"}});
  ImageSet b = load("hdf5", {{"file", dir.file("d.h5")}, {"dataset", "floats"}});
  BOOST_TEST(at::allclose(a.images, b.images, 1e-6, 1e-6));  // integers are bytes, floats already in [−1, 1]
  BOOST_TEST(at::equal(a.labels, at::arange(4, at::kLong)));
  std::string e = test::error_message([&] { load("hdf5", {{"file", dir.file("d.h5")}, {"dataset", "nope"}}); });
  BOOST_TEST(e.find("d.h5: dataset 'nope' not found") != std::string::npos, e);
  e = test::error_message([&] { load("hdf5", {{"file", dir.file("d.h5")}, {"dataset", "labels"}}); });
  BOOST_TEST(e.find("expected [N, C, H, W]") != std::string::npos, e);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
