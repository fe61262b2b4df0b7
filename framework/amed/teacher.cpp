#include "amed/teacher.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/noise.h"
#include "solvers/solver.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

// Keeps the channel-mean bottleneck of the latest evaluation at each student σ (teacher evaluations at
// a grid point come last from the step that starts there, on the state itself).
class FeatureTap : public Denoiser {
 public:
  FeatureTap(Denoiser& inner, const std::vector<double>& student) : inner_(inner), student_(student) {
    features_.resize(student.size());
  }
  const ModelInfo& info() const override { return inner_.info(); }
  void to(at::ScalarType d, at::Device dev) override { inner_.to(d, dev); }
  at::Tensor bottleneck() const override { return inner_.bottleneck(); }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override {
    at::Tensor out = inner_.denoise(x, sigma);
    at::Tensor feat = inner_.bottleneck();
    if (feat.defined()) {
      double s = sigma[0].item<double>();
      for (size_t k = 0; k + 1 < student_.size(); ++k)
        if (std::abs(s - student_[k]) <= 1e-6 * student_[k]) features_[k] = feat.mean(1).detach();  // σ may be float32
    }
    return out;
  }
  at::Tensor stacked() const {  // [B, P−1, 8, 8] or undefined
    std::vector<at::Tensor> f(features_.begin(), features_.end() - 1);
    for (const auto& t : f)
      if (!t.defined()) return {};
    return at::stack(f, 1);
  }

 private:
  Denoiser& inner_;
  std::vector<double> student_;
  std::vector<at::Tensor> features_;
};

std::vector<int64_t> row_shape(int64_t n, int64_t p, const std::vector<int64_t>& sample) {
  std::vector<int64_t> s{n, p};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

}  // namespace

TeacherReport generate_teacher(const TeacherSpec& spec, Denoiser& model, at::Device device,
                               const std::string& output, const Progress& progress) {
  if (spec.seeds.empty()) fail("teacher: no seeds given");
  if (spec.batch < 1) fail("teacher.batch = {} must be >= 1", spec.batch);
  const ModelInfo& info = model.info();
  const std::vector<double> student = make_schedule(spec.student_schedule, info.process.get());
  const std::vector<double> teacher = make_schedule(refined(spec.student_schedule, spec.m), info.process.get());
  auto solver = make_solver(spec.solver, spec.solver_options, "teacher.solver.");
  check_grid(*solver, teacher, spec.solver);
  const int64_t p = int64_t(student.size()), stride = spec.m + 1;

  model.to(spec.dtype, device);
  h5::AtomicPath target(output);
  TeacherReport report;
  auto t0 = std::chrono::steady_clock::now();
  {
    h5::File f = h5::File::create(target.temp());
    const h5::DType stored = spec.dtype == at::kDouble ? h5::DType::Float64 : h5::DType::Float32;
    std::vector<int64_t> inner = row_shape(0, p, info.sample_shape);
    inner.erase(inner.begin());
    f.create_rows("states", stored, inner, 16, false);
    f.create_rows("seeds", h5::DType::Int64, {}, 1024);
    bool has_features = false;
    const int64_t n = int64_t(spec.seeds.size());
    for (int64_t first = 0; first < n; first += spec.batch) {
      std::vector<int64_t> seeds(spec.seeds.begin() + first, spec.seeds.begin() + std::min(n, first + spec.batch));
      at::Tensor z = seeded_noise(seeds, info.sample_shape, at::TensorOptions().dtype(spec.dtype)).to(device);
      std::vector<at::Tensor> states{teacher.front() * z};
      FeatureTap tap(model, student);
      CountingDenoiser counted(tap);
      SampleHooks hooks;
      hooks.on_step = [&](const StepEvent& e) {
        if ((e.index + 1) % stride == 0) states.push_back(e.x.detach().clone());
      };
      {
        at::NoGradGuard no_grad;
        solver->sample(counted, states.front(), teacher, hooks);
      }
      if (int64_t(states.size()) != p) fail("internal: teacher kept {} of {} student points", states.size(), p);
      h5::append_rows(f, "states", at::stack(states, 1));
      h5::append_rows(f, "seeds", at::tensor(seeds, at::kLong));
      at::Tensor feats = tap.stacked();
      if (first == 0 && feats.defined()) {
        f.create_rows("features", stored, {p - 1, 8, 8}, 64, false);
        has_features = true;
      }
      if (has_features) {
        if (!feats.defined()) fail("teacher: the model gave bottleneck features for some batches only");
        h5::append_rows(f, "features", feats);
      }
      report.nfe_per_sample = counted.nfe();
      report.samples += int64_t(seeds.size());
      if (progress) progress(report.samples, n);
    }
    h5::write_tensor(f, "sigmas", at::tensor(student, at::kDouble));
    h5::write_tensor(f, "teacher_sigmas", at::tensor(teacher, at::kDouble));
    f.set_attr("config", spec.config_yaml);
    const ScheduleSpec& sc = spec.student_schedule;  // the student schedule, for self-describing predictors
    f.set_attr("schedule_kind", sc.kind);
    f.set_attr("schedule_num_steps", int64_t(sc.num_steps));
    f.set_attr("schedule_sigma_min", sc.sigma_min);
    f.set_attr("schedule_sigma_max", sc.sigma_max);
    f.set_attr("schedule_rho", sc.rho);
    f.set_attr("schedule_k", sc.k);
    f.set_attr("schedule_eps_s", sc.eps_s);
    f.set_attr("model_fingerprint", info.fingerprint);
    f.set_attr("teacher", spec.solver);
    f.set_attr("m", int64_t(spec.m));
    f.set_attr("nfe_per_sample", report.nfe_per_sample);
    f.set_attr("num_samples", report.samples);
    f.set_attr("complete", int64_t(1));  // last: readers refuse files without it
  }
  target.commit();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace dsx
