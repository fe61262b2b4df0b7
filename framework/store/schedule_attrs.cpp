#include "store/schedule_attrs.h"

#include <ATen/ATen.h>

#include "store/tensor_h5.h"

namespace dsx::h5 {

namespace {
const char* const kSigmasDataset = "schedule_sigmas";
}

void write_schedule_attrs(File& f, const ScheduleSpec& s, const std::string& prefix) {
  f.set_attr("schedule_kind", s.kind);
  f.set_attr(prefix + "num_steps", int64_t(s.num_steps));
  f.set_attr(prefix + "sigma_min", s.sigma_min);
  f.set_attr(prefix + "sigma_max", s.sigma_max);
  f.set_attr(prefix + "rho", s.rho);
  f.set_attr(prefix + "k", s.k);
  f.set_attr(prefix + "eps_s", s.eps_s);
  if (!s.sigmas.empty()) write_tensor(f, kSigmasDataset, at::tensor(s.sigmas, at::kDouble));
}

ScheduleSpec read_schedule_attrs(const File& f, const std::string& prefix) {
  ScheduleSpec s;
  s.kind = f.attr_string("schedule_kind");
  s.num_steps = int(f.attr_int(prefix + "num_steps"));
  s.sigma_min = f.attr_double(prefix + "sigma_min");
  s.sigma_max = f.attr_double(prefix + "sigma_max");
  s.rho = f.attr_double(prefix + "rho");
  s.k = f.attr_double(prefix + "k");
  s.eps_s = f.attr_double(prefix + "eps_s");
  if (f.has(kSigmasDataset)) s.sigmas = f.read_double(kSigmasDataset);
  return s;
}

}  // namespace dsx::h5
