#include "store/tensor_h5.h"

#include "core/error.h"

namespace dsx::h5 {

at::Tensor read_tensor(const File& f, const std::string& name, at::ScalarType dtype) {
  std::vector<int64_t> shape;
  if (f.info(name).dtype == DType::Int64) {
    std::vector<int64_t> v = f.read_int64(name, &shape);
    return at::tensor(v, at::kLong).reshape(shape).to(dtype);
  }
  std::vector<double> v = f.read_double(name, &shape);
  return at::tensor(v, at::kDouble).reshape(shape).to(dtype);
}

void write_tensor(File& f, const std::string& name, const at::Tensor& t, bool compress) {
  at::Tensor c = t.detach().cpu().contiguous();
  std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
  if (c.scalar_type() == at::kLong) return f.write(name, shape, c.data_ptr<int64_t>());
  if (c.scalar_type() == at::kDouble) return f.write(name, shape, c.data_ptr<double>(), DType::Float64, compress);
  if (!at::isFloatingType(c.scalar_type()))
    fail("cannot store tensor '{}' of type {}", name, c10::toString(c.scalar_type()));
  at::Tensor fl = c.to(at::kFloat);
  f.write(name, shape, fl.data_ptr<float>(), compress);
}

void append_rows(File& f, const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.detach().cpu().contiguous();
  std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
  if (c.scalar_type() == at::kLong) return f.append_rows(name, shape, DType::Int64, c.data_ptr<int64_t>());
  if (c.scalar_type() == at::kDouble) return f.append_rows(name, shape, DType::Float64, c.data_ptr<double>());
  at::Tensor fl = c.to(at::kFloat);
  f.append_rows(name, shape, DType::Float32, fl.data_ptr<float>());
}

at::Tensor read_rows(const File& f, const std::string& name, int64_t first, int64_t count, at::ScalarType dtype) {
  std::vector<int64_t> shape = f.info(name).shape;
  shape[0] = count;
  if (dtype == at::kLong) {
    at::Tensor out = at::empty(shape, at::kLong);
    f.read_rows(name, first, count, DType::Int64, out.data_ptr<int64_t>());
    return out;
  }
  if (dtype == at::kFloat) {  // straight into float32: no float64 buffer twice the size to allocate and free
    at::Tensor out = at::empty(shape, at::kFloat);
    f.read_rows(name, first, count, DType::Float32, out.data_ptr<float>());
    return out;
  }
  at::Tensor out = at::empty(shape, at::kDouble);
  f.read_rows(name, first, count, DType::Float64, out.data_ptr<double>());
  return out.to(dtype);
}

}  // namespace dsx::h5
