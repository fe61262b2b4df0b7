#include "data/npz.h"

#include <zip.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <regex>
#include <vector>

#include <ATen/ATen.h>

#include "core/error.h"

namespace dsx {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct Dtype {
  const char* descr;
  at::ScalarType type;
};
// The element types read and written, by their little-endian (or byte-sized '|') descr.
constexpr Dtype kDtypes[] = {{"<f4", at::kFloat}, {"<f8", at::kDouble}, {"<i4", at::kInt}, {"<i8", at::kLong},
                             {"|u1", at::kByte},  {"|b1", at::kBool},   {"<u1", at::kByte}};

std::string zip_message(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string s = zip_error_strerror(&e);
  zip_error_fini(&e);
  return s;
}

}  // namespace

at::Tensor npy_decode(const std::vector<char>& bytes, const std::string& where) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
    fail("{}: not a .npy array (bad magic)", where);
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = size_t(static_cast<unsigned char>(bytes[8])) | size_t(static_cast<unsigned char>(bytes[9])) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail("{}: truncated .npy header", where);
    for (int i = 0; i < 4; ++i) header_len |= size_t(static_cast<unsigned char>(bytes[size_t(8 + i)])) << (8 * i);
    offset = 12;
  } else {
    fail("{}: .npy format version {} is not supported (1, 2 or 3)", where, major);
  }
  if (bytes.size() < offset + header_len) fail("{}: truncated .npy header", where);
  const std::string header(bytes.data() + offset, header_len);
  offset += header_len;

  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    fail("{}: .npy header has no descr: {}", where, header);
  const std::string descr = m[1];
  const Dtype* dtype = nullptr;
  for (const Dtype& d : kDtypes)
    if (descr == d.descr) dtype = &d;
  if (!dtype)
    fail("{}: element type '{}' is not supported (little-endian float32/64, int32/64, uint8, bool)", where, descr);
  const bool fortran = std::regex_search(header, std::regex(R"('fortran_order'\s*:\s*True)"));
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    fail("{}: .npy header has no shape: {}", where, header);
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  const std::regex number(R"(\d+)");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
    shape.push_back(std::stoll(it->str()));

  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  const size_t nbytes = size_t(count) * at::elementSize(dtype->type);
  if (bytes.size() - offset != nbytes)
    fail("{}: {} data bytes for shape ({}) of {}, expected {}", where, bytes.size() - offset, dims, descr, nbytes);
  if (!fortran) {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype->type));
    std::memcpy(t.data_ptr(), bytes.data() + offset, nbytes);
    return t;
  }
  // Fortran order: the data is the C-order array of the reversed shape, transposed.
  std::vector<int64_t> reversed(shape.rbegin(), shape.rend());
  at::Tensor t = at::empty(reversed, at::TensorOptions().dtype(dtype->type));
  std::memcpy(t.data_ptr(), bytes.data() + offset, nbytes);
  std::vector<int64_t> perm;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) perm.push_back(i);
  return t.permute(perm).contiguous();
}

std::vector<char> npy_encode(const at::Tensor& array, const std::string& name) {
  const at::Tensor t = array.detach().to(at::kCPU).contiguous();
  const Dtype* dtype = nullptr;
  for (const Dtype& d : kDtypes)
    if (d.type == t.scalar_type()) {
      dtype = &d;
      break;
    }
  if (!dtype) fail("npz: array '{}' has an element type .npz writing does not support", name);
  std::string shape;  // Python tuple syntax: "(3, 4)", "(3,)", "()"
  for (int64_t i = 0; i < t.dim(); ++i) shape += (i ? ", " : "") + std::to_string(t.size(i));
  if (t.dim() == 1) shape += ",";
  std::string header =
      "{'descr': '" + std::string(dtype->descr) + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad with spaces so that magic + version + length + header is a multiple of 64 bytes, ending in '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::vector<char> out(kMagic, kMagic + kMagicSize);
  out.push_back(1);
  out.push_back(0);
  out.push_back(char(header.size() & 0xff));
  out.push_back(char(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  const char* data = static_cast<const char*>(t.data_ptr());
  out.insert(out.end(), data, data + t.nbytes());
  return out;
}

std::map<std::string, at::Tensor> read_npz(const std::string& path) {
  int code = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!za) fail("{}: cannot open as an .npz (zip) archive: {}", path, zip_message(code));
  std::unique_ptr<zip_t, void (*)(zip_t*)> guard(za, zip_discard);
  std::map<std::string, at::Tensor> arrays;
  const zip_int64_t n = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(za, zip_uint64_t(i), 0, &st) != 0)
      fail("{}: cannot read member {}: {}", path, i, zip_strerror(za));
    std::string name = st.name;
    const std::string where = path + ":" + name;
    zip_file_t* zf = zip_fopen_index(za, zip_uint64_t(i), 0);
    if (!zf) fail("{}: cannot open: {}", where, zip_strerror(za));
    std::vector<char> bytes(size_t(st.size));
    const zip_int64_t got = zip_fread(zf, bytes.data(), st.size);
    // libzip checks a member's CRC-32 when a read reaches its end: one more read returns 0, or -1 if the
    // bytes are not the ones the archive recorded.
    char past_end = 0;
    const zip_int64_t tail = got == zip_int64_t(st.size) ? zip_fread(zf, &past_end, 1) : 0;
    const std::string crc_error = tail != 0 ? zip_file_strerror(zf) : "";
    zip_fclose(zf);
    if (got != zip_int64_t(st.size)) fail("{}: read {} of {} bytes (corrupt archive?)", where, got, st.size);
    if (tail != 0) fail("{}: corrupt member ({})", where, crc_error);
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    arrays[name] = npy_decode(bytes, where);
  }
  return arrays;
}

void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays) {
  const std::string tmp = path + ".tmp";
  std::remove(tmp.c_str());
  int code = 0;
  zip_t* za = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!za) fail("{}: cannot create: {}", tmp, zip_message(code));
  std::vector<std::vector<char>> members;  // libzip reads the buffers at zip_close
  members.reserve(arrays.size());
  for (const auto& [name, array] : arrays) {
    members.push_back(npy_encode(array, name));
    zip_source_t* src = zip_source_buffer(za, members.back().data(), members.back().size(), 0);
    const zip_int64_t idx = src ? zip_file_add(za, (name + ".npy").c_str(), src, ZIP_FL_OVERWRITE) : -1;
    if (idx < 0) {
      if (src) zip_source_free(src);
      const std::string why = zip_strerror(za);
      zip_discard(za);
      fail("{}: cannot add '{}': {}", tmp, name, why);
    }
    zip_set_file_compression(za, zip_uint64_t(idx), ZIP_CM_STORE, 0);
  }
  if (zip_close(za) != 0) {
    const std::string why = zip_strerror(za);
    zip_discard(za);
    std::remove(tmp.c_str());
    fail("{}: cannot write (disk full?): {}", path, why);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("{}: cannot move the finished file into place: {}", path, ec.message());
}

}  // namespace dsx
