#include "store/h5.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/fs_util.h"

namespace dsx::h5 {
namespace {

// Silence HDF5's automatic stderr printing once; errors are collected with error_stack() instead.
struct QuietErrors {
  QuietErrors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const QuietErrors kQuiet;

herr_t collect(unsigned n, const H5E_error2_t* e, void* out) {
  auto* text = static_cast<std::string*>(out);
  *text += fmt::format("\n  #{:03} {}:{} {}(): {}", n, e->file_name ? e->file_name : "?", e->line,
                       e->func_name ? e->func_name : "?", e->desc ? e->desc : "");
  return 0;
}

[[noreturn]] void raise(const std::string& what) {
  std::string stack = error_stack();
  H5Eclear2(H5E_DEFAULT);
  // The cause users act on, said first; the stack (for bug reports) after it.
  const bool full = stack.find("errno = 28") != std::string::npos || errno == ENOSPC;
  throw Error(what + (full ? ": no space left on the device (disk full)" : "") +
              (stack.empty() ? "" : "\n HDF5 error stack:" + stack));
}

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) raise(what);
  return id;
}

void check_status(herr_t status, const std::string& what) {
  if (status < 0) raise(what);
}

std::vector<hsize_t> to_dims(const std::vector<int64_t>& shape) { return {shape.begin(), shape.end()}; }

}  // namespace

std::string error_stack() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &text);
  return text;
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = -1;
  }
  return *this;
}

Handle::~Handle() {
  if (id_ >= 0 && closer_) closer_(id_);
}

// Integrity from HDF5 itself, so a flipped bit in a file dsx wrote is an error on reading, not a silently
// different number: the 1.8+ file format checksums its metadata (superblock v2, object headers v2 with
// their attributes, B-trees), and every dataset's chunks carry a Fletcher-32 checksum (checked on read).
File File::create(const std::string& path) {
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"), H5Pclose);
  check_status(H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  if (id < 0) raise(fmt::format("cannot create HDF5 file '{}'", path));
  return File(path, Handle(id, H5Fclose));
}

File File::open(const std::string& path, bool writable) {
  if (!path_exists(path)) fail("HDF5 file '{}' does not exist", path);
  hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) raise(fmt::format("cannot open '{}' as an HDF5 file", path));
  return File(path, Handle(id, H5Fclose));
}

bool File::has(const std::string& name) const {
  htri_t r = H5Lexists(file_.id(), name.c_str(), H5P_DEFAULT);
  return r > 0;
}

Handle File::open_dataset(const std::string& name) const {
  if (!has(name)) fail("{}: dataset '{}' not found", path_, name);
  return Handle(check(H5Dopen2(file_.id(), name.c_str(), H5P_DEFAULT), path_ + ": cannot open dataset " + name),
                H5Dclose);
}

Handle File::open_object(const std::string& object) const {
  if (object != "/" && !has(object)) fail("{}: object '{}' not found", path_, object);
  return Handle(check(H5Oopen(file_.id(), object.c_str(), H5P_DEFAULT), path_ + ": cannot open " + object), H5Oclose);
}

DatasetInfo File::info(const std::string& name) const {
  Handle ds = open_dataset(name);
  Handle space(check(H5Dget_space(ds.id()), path_ + ": dataspace of " + name), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  DatasetInfo out;
  out.shape.assign(dims.begin(), dims.end());
  Handle type(check(H5Dget_type(ds.id()), path_ + ": type of " + name), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.id());
  if (cls == H5T_FLOAT)
    out.dtype = H5Tget_size(type.id()) == 4 ? DType::Float32 : DType::Float64;
  else if (cls == H5T_INTEGER)
    out.dtype = DType::Int64;
  else
    fail("{}: dataset '{}' is neither float nor integer", path_, name);
  return out;
}

void File::write_raw(const std::string& name, const std::vector<int64_t>& shape, hid_t mem_type, hid_t file_type,
                     const void* data, bool compress) {
  auto dims = to_dims(shape);
  Handle space(check(H5Screate_simple(int(dims.size()), dims.data(), nullptr), "H5Screate_simple"), H5Sclose);
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  hsize_t total = 1;
  for (auto d : dims) total *= d;
  if (!dims.empty() && total > 0) {
    // Compressed: one chunk per leading index (a sample). Otherwise chunks of whole leading slices up to
    // kChunkElements (HDF5 caps a chunk at 4 GiB), there for the checksum.
    constexpr hsize_t kChunkElements = hsize_t(1) << 22;
    std::vector<hsize_t> chunk = dims;
    const hsize_t inner = std::max<hsize_t>(total / dims[0], 1);
    chunk[0] = compress ? 1 : std::clamp<hsize_t>(kChunkElements / inner, 1, dims[0]);
    check_status(H5Pset_chunk(dcpl.id(), int(chunk.size()), chunk.data()), "H5Pset_chunk");
    if (compress) {
      check_status(H5Pset_shuffle(dcpl.id()), "H5Pset_shuffle");
      check_status(H5Pset_deflate(dcpl.id(), 4), "H5Pset_deflate");
    }
    check_status(H5Pset_fletcher32(dcpl.id()), "H5Pset_fletcher32");
  }
  if (has(name)) check_status(H5Ldelete(file_.id(), name.c_str(), H5P_DEFAULT), path_ + ": replace " + name);
  Handle lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate"), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.id(), 1);
  Handle ds(check(H5Dcreate2(file_.id(), name.c_str(), file_type, space.id(), lcpl.id(), dcpl.id(), H5P_DEFAULT),
                  fmt::format("{}: cannot create dataset '{}'", path_, name)),
            H5Dclose);
  if (total > 0)
    check_status(H5Dwrite(ds.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
                 fmt::format("{}: cannot write dataset '{}'", path_, name));
}

void File::write(const std::string& name, const std::vector<int64_t>& shape, const double* data, DType stored,
                 bool compress) {
  write_raw(name, shape, H5T_NATIVE_DOUBLE, stored == DType::Float32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, data, compress);
}
void File::write(const std::string& name, const std::vector<int64_t>& shape, const float* data, bool compress) {
  write_raw(name, shape, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, data, compress);
}
void File::write(const std::string& name, const std::vector<int64_t>& shape, const int64_t* data) {
  write_raw(name, shape, H5T_NATIVE_INT64, H5T_STD_I64LE, data, false);
}

void File::read_raw(const std::string& name, hid_t mem_type, void* data) const {
  Handle ds = open_dataset(name);
  check_status(H5Dread(ds.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
               fmt::format("{}: cannot read dataset '{}'", path_, name));
}

namespace {
int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}
}  // namespace

std::vector<double> File::read_double(const std::string& name, std::vector<int64_t>* shape) const {
  DatasetInfo i = info(name);
  std::vector<double> out(numel(i.shape));
  if (!out.empty()) read_raw(name, H5T_NATIVE_DOUBLE, out.data());
  if (shape) *shape = i.shape;
  return out;
}

std::vector<float> File::read_float(const std::string& name, std::vector<int64_t>* shape) const {
  DatasetInfo i = info(name);
  std::vector<float> out(numel(i.shape));
  if (!out.empty()) read_raw(name, H5T_NATIVE_FLOAT, out.data());
  if (shape) *shape = i.shape;
  return out;
}

std::vector<int64_t> File::read_int64(const std::string& name, std::vector<int64_t>* shape) const {
  DatasetInfo i = info(name);
  if (i.dtype != DType::Int64) fail("{}: dataset '{}' is not an integer dataset", path_, name);
  std::vector<int64_t> out(numel(i.shape));
  if (!out.empty()) read_raw(name, H5T_NATIVE_INT64, out.data());
  if (shape) *shape = i.shape;
  return out;
}

namespace {
hid_t native(DType t) {
  switch (t) {
    case DType::Float32: return H5T_NATIVE_FLOAT;
    case DType::Float64: return H5T_NATIVE_DOUBLE;
    case DType::Int64: return H5T_NATIVE_INT64;
  }
  return H5T_NATIVE_DOUBLE;
}
hid_t stored_type(DType t) {
  switch (t) {
    case DType::Float32: return H5T_IEEE_F32LE;
    case DType::Float64: return H5T_IEEE_F64LE;
    case DType::Int64: return H5T_STD_I64LE;
  }
  return H5T_IEEE_F64LE;
}
}  // namespace

void File::create_rows(const std::string& name, DType stored, const std::vector<int64_t>& inner, int64_t chunk_rows,
                       bool compress) {
  std::vector<hsize_t> dims{0}, max{H5S_UNLIMITED}, chunk{hsize_t(std::max<int64_t>(chunk_rows, 1))};
  for (auto d : inner) dims.push_back(d), max.push_back(d), chunk.push_back(d);
  Handle space(check(H5Screate_simple(int(dims.size()), dims.data(), max.data()), "H5Screate_simple"), H5Sclose);
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  check_status(H5Pset_chunk(dcpl.id(), int(chunk.size()), chunk.data()), "H5Pset_chunk");
  if (compress) {
    check_status(H5Pset_shuffle(dcpl.id()), "H5Pset_shuffle");
    check_status(H5Pset_deflate(dcpl.id(), 1), "H5Pset_deflate");
  }
  check_status(H5Pset_fletcher32(dcpl.id()), "H5Pset_fletcher32");
  Handle lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate"), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.id(), 1);
  Handle ds(
      check(H5Dcreate2(file_.id(), name.c_str(), stored_type(stored), space.id(), lcpl.id(), dcpl.id(), H5P_DEFAULT),
            fmt::format("{}: cannot create dataset '{}'", path_, name)),
      H5Dclose);
}

void File::append_rows(const std::string& name, const std::vector<int64_t>& shape, DType memory, const void* data) {
  Handle ds = open_dataset(name);
  Handle space(check(H5Dget_space(ds.id()), "H5Dget_space"), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  if (int(shape.size()) != rank)
    fail("{}: appending rank-{} rows to rank-{} dataset '{}'", path_, shape.size(), rank, name);
  for (int i = 1; i < rank; ++i)
    if (hsize_t(shape[i]) != dims[i]) fail("{}: row shape mismatch appending to '{}'", path_, name);
  std::vector<hsize_t> start(rank, 0), count(shape.begin(), shape.end()), grown = dims;
  start[0] = dims[0];
  grown[0] += count[0];
  check_status(H5Dset_extent(ds.id(), grown.data()), fmt::format("{}: cannot extend '{}'", path_, name));
  Handle file_space(check(H5Dget_space(ds.id()), "H5Dget_space"), H5Sclose);
  check_status(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
               "H5Sselect_hyperslab");
  Handle mem(check(H5Screate_simple(rank, count.data(), nullptr), "H5Screate_simple"), H5Sclose);
  check_status(H5Dwrite(ds.id(), native(memory), mem.id(), file_space.id(), H5P_DEFAULT, data),
               fmt::format("{}: cannot append to '{}'", path_, name));
}

void File::read_rows(const std::string& name, int64_t first, int64_t count, DType memory, void* data) const {
  Handle ds = open_dataset(name);
  Handle space(check(H5Dget_space(ds.id()), "H5Dget_space"), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  if (first < 0 || count < 0 || hsize_t(first + count) > dims[0])
    fail("{}: rows [{}, {}) of '{}' are out of range (it has {})", path_, first, first + count, name, dims[0]);
  std::vector<hsize_t> start(rank, 0), cnt = dims;
  start[0] = first;
  cnt[0] = count;
  check_status(H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr),
               "H5Sselect_hyperslab");
  Handle mem(check(H5Screate_simple(rank, cnt.data(), nullptr), "H5Screate_simple"), H5Sclose);
  check_status(H5Dread(ds.id(), native(memory), mem.id(), space.id(), H5P_DEFAULT, data),
               fmt::format("{}: cannot read rows of '{}'", path_, name));
}

namespace {
void write_attr(hid_t obj, const std::string& name, hid_t type, const void* data, const std::string& what) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT), what), H5Aclose);
  check_status(H5Awrite(attr.id(), type, data), what);
}
}  // namespace

void File::set_attr(const std::string& name, int64_t v, const std::string& object) {
  Handle obj = open_object(object);
  write_attr(obj.id(), name, H5T_NATIVE_INT64, &v, fmt::format("{}: cannot write attribute '{}'", path_, name));
}
void File::set_attr(const std::string& name, double v, const std::string& object) {
  Handle obj = open_object(object);
  write_attr(obj.id(), name, H5T_NATIVE_DOUBLE, &v, fmt::format("{}: cannot write attribute '{}'", path_, name));
}
void File::set_attr(const std::string& name, const std::string& v, const std::string& object) {
  Handle obj = open_object(object);
  Handle type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  H5Tset_size(type.id(), std::max<size_t>(v.size(), 1));
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  std::string padded = v.empty() ? std::string(1, '\0') : v;
  write_attr(obj.id(), name, type.id(), padded.data(), fmt::format("{}: cannot write attribute '{}'", path_, name));
}

bool File::has_attr(const std::string& name, const std::string& object) const {
  Handle obj = open_object(object);
  return H5Aexists(obj.id(), name.c_str()) > 0;
}

namespace {
Handle open_attr(hid_t obj, const std::string& file, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0) fail("{}: attribute '{}' not found", file, name);
  return Handle(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file + ": cannot open attribute " + name), H5Aclose);
}
}  // namespace

int64_t File::attr_int(const std::string& name, const std::string& object) const {
  Handle obj = open_object(object);
  Handle a = open_attr(obj.id(), path_, name);
  int64_t v = 0;
  check_status(H5Aread(a.id(), H5T_NATIVE_INT64, &v), path_ + ": read attribute " + name);
  return v;
}

double File::attr_double(const std::string& name, const std::string& object) const {
  Handle obj = open_object(object);
  Handle a = open_attr(obj.id(), path_, name);
  double v = 0;
  check_status(H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v), path_ + ": read attribute " + name);
  return v;
}

std::string File::attr_string(const std::string& name, const std::string& object) const {
  Handle obj = open_object(object);
  Handle a = open_attr(obj.id(), path_, name);
  Handle type(check(H5Aget_type(a.id()), "H5Aget_type"), H5Tclose);
  if (H5Tget_class(type.id()) != H5T_STRING) fail("{}: attribute '{}' is not a string", path_, name);
  if (H5Tis_variable_str(type.id()) > 0) {
    char* s = nullptr;
    Handle mem(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
    H5Tset_size(mem.id(), H5T_VARIABLE);
    check_status(H5Aread(a.id(), mem.id(), &s), path_ + ": read attribute " + name);
    std::string out = s ? s : "";
    H5free_memory(s);
    return out;
  }
  std::string out(H5Tget_size(type.id()), '\0');
  check_status(H5Aread(a.id(), type.id(), out.data()), path_ + ": read attribute " + name);
  out.resize(out.find('\0') == std::string::npos ? out.size() : out.find('\0'));
  return out;
}

namespace {
std::atomic<bool> close_failed{false};
}

void File::close() {
  if (!file_.valid()) return;
  if (H5Fclose(file_.release()) < 0) {
    close_failed = true;
    raise(fmt::format("{}: cannot finish writing the file", path_));
  }
}

bool a_close_failed() { return close_failed; }

void File::flush() { check_status(H5Fflush(file_.id(), H5F_SCOPE_GLOBAL), path_ + ": flush"); }

AtomicPath::AtomicPath(std::string path) : path_(std::move(path)) {
  static std::atomic<int> counter{0};
  temp_ = fmt::format("{}.tmp.{}.{}", path_, getpid(), counter++);
}

AtomicPath::~AtomicPath() {
  if (!committed_) std::remove(temp_.c_str());
}

void AtomicPath::commit() {
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);
  if (ec) fail("cannot move '{}' to '{}': {}", temp_, path_, ec.message());
  committed_ = true;
}

}  // namespace dsx::h5
