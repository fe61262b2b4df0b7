#pragma once
// A small RAII layer over the HDF5 C API. Every failing call throws dsx::Error carrying the file, the
// object and HDF5's own error stack. Versioned names (H5Dopen2, ...) are used on purpose: Debian's
// libhdf5 maps unversioned names to the 1.8 API.
#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

namespace dsx::h5 {

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();
  hid_t id() const { return id_; }
  hid_t release() {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

enum class DType { Float32, Float64, Int64 };

struct DatasetInfo {
  std::vector<int64_t> shape;
  DType dtype = DType::Float64;
};

class File {
 public:
  static File create(const std::string& path);  // truncates
  static File open(const std::string& path, bool writable = false);
  const std::string& path() const { return path_; }

  bool has(const std::string& name) const;
  DatasetInfo info(const std::string& name) const;

  // Whole-dataset I/O; element type converted by HDF5 (e.g. a float32 dataset read as double).
  void write(const std::string& name, const std::vector<int64_t>& shape, const double* data,
             DType stored = DType::Float64, bool compress = false);
  void write(const std::string& name, const std::vector<int64_t>& shape, const float* data, bool compress = false);
  void write(const std::string& name, const std::vector<int64_t>& shape, const int64_t* data);
  std::vector<double> read_double(const std::string& name, std::vector<int64_t>* shape = nullptr) const;
  std::vector<float> read_float(const std::string& name, std::vector<int64_t>* shape = nullptr) const;
  std::vector<int64_t> read_int64(const std::string& name, std::vector<int64_t>* shape = nullptr) const;

  // Row-appendable datasets: shape [rows (unlimited), *inner], chunked by `chunk_rows` rows, so streamed
  // writers keep only the current batch in memory.
  void create_rows(const std::string& name, DType stored, const std::vector<int64_t>& inner, int64_t chunk_rows,
                   bool compress = false);
  // Appends rows [n, *inner] (n ≥ 1) converting from the given memory type.
  void append_rows(const std::string& name, const std::vector<int64_t>& shape, DType memory, const void* data);
  // Reads rows [first, first + count) into `data` (memory type `memory`).
  void read_rows(const std::string& name, int64_t first, int64_t count, DType memory, void* data) const;

  // Attributes on the root group (object = "/") or on a dataset.
  void set_attr(const std::string& name, int64_t v, const std::string& object = "/");
  void set_attr(const std::string& name, double v, const std::string& object = "/");
  void set_attr(const std::string& name, const std::string& v, const std::string& object = "/");
  bool has_attr(const std::string& name, const std::string& object = "/") const;
  int64_t attr_int(const std::string& name, const std::string& object = "/") const;
  double attr_double(const std::string& name, const std::string& object = "/") const;
  std::string attr_string(const std::string& name, const std::string& object = "/") const;

  void flush();
  // Closes now and fails if HDF5 could not finish the file (a full disk shows here: data is flushed on
  // close). Writers call it before committing; the destructor closes too but cannot report.
  void close();

 private:
  File(std::string path, Handle h) : path_(std::move(path)), file_(std::move(h)) {}
  Handle open_dataset(const std::string& name) const;
  Handle open_object(const std::string& object) const;
  void write_raw(const std::string& name, const std::vector<int64_t>& shape, hid_t mem_type, hid_t file_type,
                 const void* data, bool compress);
  void read_raw(const std::string& name, hid_t mem_type, void* data) const;
  std::string path_;
  Handle file_;
};

// Writes go to a unique temporary name next to `path`; commit() renames it into place (atomic on POSIX),
// and a destructor without commit() removes the temporary, so `path` never holds a half-written file.
class AtomicPath {
 public:
  explicit AtomicPath(std::string path);
  ~AtomicPath();
  AtomicPath(const AtomicPath&) = delete;
  AtomicPath& operator=(const AtomicPath&) = delete;
  const std::string& temp() const { return temp_; }
  void commit();

 private:
  std::string path_, temp_;
  bool committed_ = false;
};

// HDF5's current error stack as text (empty if none).
std::string error_stack();

// Whether a file's close failed in this process (a full disk). Such a file stays in HDF5's table, and HDF5's
// exit handler crashes closing it again (HDF5 1.10): main() then ends with std::_Exit after flushing.
bool a_close_failed();

}  // namespace dsx::h5
