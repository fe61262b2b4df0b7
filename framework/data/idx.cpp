#include "data/idx.h"

#include <zlib.h>

#include <memory>
#include <vector>

#include "core/error.h"

namespace dsx {

at::Tensor read_idx_gz(const std::string& path) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), gzclose);
  if (!f) fail("{}: cannot open (does it exist?)", path);
  auto read_exact = [&](void* buf, unsigned n, const char* what) {
    int got = gzread(f.get(), buf, n);
    if (got < 0) fail("{}: not a readable gzip file", path);
    if (unsigned(got) != n) fail("{}: truncated while reading the {}", path, what);
  };
  unsigned char magic[4];
  read_exact(magic, 4, "header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] < 1 || magic[3] > 4)
    fail("{}: not an IDX file of unsigned bytes (magic {:02x}{:02x}{:02x}{:02x})", path, magic[0], magic[1], magic[2],
         magic[3]);
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char b[4];
    read_exact(b, 4, "header");
    const int64_t n = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    if (n <= 0 || n > (int64_t(1) << 28)) fail("{}: implausible size {} in the header", path, n);
    shape.push_back(n);
    count *= n;
  }
  if (count > (int64_t(1) << 32)) fail("{}: {} values is more than this reader takes", path, count);
  at::Tensor out = at::empty(shape, at::kByte);
  uint8_t* p = out.data_ptr<uint8_t>();
  for (int64_t done = 0; done < count;) {
    const unsigned n = unsigned(std::min<int64_t>(count - done, int64_t(1) << 30));
    read_exact(p + done, n, "data");
    done += n;
  }
  return out;
}

}  // namespace dsx
