#include "amed/teacher.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "amed/solver_catalog.h"
#include "core/error.h"
#include "core/noise.h"
#include "core/ordered_pipeline.h"
#include "solvers/solver.h"
#include "store/h5.h"
#include "store/schedule_attrs.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

// Keeps, from the latest evaluation at each student σ (teacher evaluations at a grid point come last from
// the step that starts there, on the state itself), the channel-mean feature and, when asked, the raw
// direction (x − D)/σ. One per batch: no shared state.
class StudentPointTap : public DenoiserDecorator {
 public:
  StudentPointTap(const Denoiser& inner, const std::vector<double>& student, bool directions)
      : DenoiserDecorator(inner),
        student_(student),
        keep_directions_(directions),
        features_(student.size()),
        directions_(student.size()) {}
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override {
    Features f;
    at::Tensor d = inner_.denoise(x, sigma, &f);
    const double s = sigma[0].item<double>();
    for (size_t k = 0; k + 1 < student_.size(); ++k) {
      if (!same_sigma(s, student_[k])) continue;  // σ may be float32
      if (f.map.defined()) features_[k] = f.map.mean(1).detach();
      if (keep_directions_) directions_[k] = ((x - d) / s).detach();
    }
    if (out) *out = f;
    return d;
  }
  at::Tensor features() const { return stacked(features_); }  // [B, P−1, 8, 8] or undefined
  // [B, P−1, *shape]; the first from x_0 analytically where the teacher made no call there (AFS).
  at::Tensor directions(const at::Tensor& x0) const {
    if (keep_directions_ && !directions_.front().defined())
      directions_.front() = x0 / std::sqrt(1.0 + student_.front() * student_.front());
    return stacked(directions_);
  }

 private:
  static at::Tensor stacked(const std::vector<at::Tensor>& all) {
    std::vector<at::Tensor> f(all.begin(), all.end() - 1);
    for (const auto& t : f)
      if (!t.defined()) return {};
    return at::stack(f, 1);
  }
  std::vector<double> student_;
  bool keep_directions_;
  mutable std::vector<at::Tensor> features_, directions_;  // the batch's own capture (one tap per batch)
};

std::vector<int64_t> row_shape(int64_t n, int64_t p, const std::vector<int64_t>& sample) {
  std::vector<int64_t> s{n, p};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

}  // namespace

TeacherPlan::TeacherPlan(const TeacherSpec& spec, const ModelPtr& model, at::Device device)
    : spec_(spec), model_(in_precision(model, spec.dtype, device)), device_(device) {
  if (spec.batch < 1) fail("teacher.batch = {} must be >= 1", spec.batch);
  const ModelInfo& info = model_->info();
  student_ = make_schedule(spec.student_schedule, info.process.get());
  teacher_ = make_schedule(refined(spec.student_schedule, spec.m), info.process.get());
  if (spec.solver == kExactTeacher) {
    if (!model_->exact())
      fail("teacher.solver: exact needs a model with an exact ODE solution (mixtures, Gaussians); '{}' has none",
           info.kind);
    if (spec.m != 0) fail("teacher.m = {}: the exact teacher takes no refinement (m: 0)", spec.m);
    return;
  }
  solver_ = make_solver(spec.solver, spec.solver_options, "teacher.solver.");
  check_grid(*solver_, teacher_, spec.solver);
}

std::vector<at::Tensor> TeacherPlan::solve(const at::Tensor& z, const Denoiser& tap) const {
  const int64_t stride = spec_.m + 1;
  std::vector<at::Tensor> states{teacher_.front() * z};
  at::NoGradGuard no_grad;
  if (!solver_) {
    const ExactOde& exact = *model_->exact();
    for (size_t i = 0; i + 1 < student_.size(); ++i) {
      const at::Tensor& x = states.back();
      if (spec_.directions || model_->has_features()) tap.denoise(x, sigma_like(x, student_[i]));
      states.push_back(exact.ode_solution(x, student_[i], student_[i + 1]));
    }
    return states;
  }
  SampleHooks hooks;
  hooks.on_step = [&](const StepEvent& e) {
    if ((e.index + 1) % stride == 0) states.push_back(e.x.detach().clone());
  };
  solver_->sample(tap, states.front(), teacher_, hooks);
  return states;
}

TeacherPlan::Batch TeacherPlan::run(std::vector<int64_t> seeds, int64_t index) const {
  const int64_t p = int64_t(student_.size());
  Batch b;
  b.index = index;
  at::Tensor z = seeded_noise(seeds, info().sample_shape, at::TensorOptions().dtype(spec_.dtype)).to(device_);
  const SeededBatch seeded(*model_, seeds);  // a conditional model's labels
  StudentPointTap tap(seeded, student_, spec_.directions);
  CountingDenoiser counted(tap);
  const std::vector<at::Tensor> states = solve(z, counted);
  if (int64_t(states.size()) != p) fail("internal: teacher kept {} of {} student points", states.size(), p);
  b.states = at::stack(states, 1).cpu();
  b.features = tap.features();
  if (b.features.defined()) b.features = b.features.cpu();
  if (spec_.directions) {
    b.directions = tap.directions(states.front());
    if (!b.directions.defined()) fail("internal: the teacher made no model call at some student point");
    b.directions = b.directions.cpu();
  }
  b.nfe = counted.nfe();
  b.seeds = std::move(seeds);
  return b;
}

void run_teacher_batches(const TeacherPlan& plan, const std::vector<std::vector<int64_t>>& batches, int workers,
                         const std::function<void(TeacherPlan::Batch&)>& write) {
  run_ordered<TeacherPlan::Batch>(
      int64_t(batches.size()), workers, [&](int64_t i) { return plan.run(batches[size_t(i)], i); },
      [&](int64_t, TeacherPlan::Batch& b) { write(b); });
}

void append_teacher_batch(h5::File& f, const TeacherPlan& plan, const TeacherPlan::Batch& b) {
  const h5::DType stored = plan.spec().dtype == at::kDouble ? h5::DType::Float64 : h5::DType::Float32;
  const int64_t p = int64_t(plan.student().size());
  if (!f.has("states")) {
    std::vector<int64_t> inner = row_shape(0, p, plan.info().sample_shape);
    inner.erase(inner.begin());
    f.create_rows("states", stored, inner, 16, false);
    f.create_rows("seeds", h5::DType::Int64, {}, 1024);
    if (b.features.defined()) f.create_rows("features", stored, {p - 1, 8, 8}, 64, false);
    if (b.directions.defined()) {
      std::vector<int64_t> per_step = row_shape(0, p - 1, plan.info().sample_shape);
      per_step.erase(per_step.begin());
      f.create_rows("directions", stored, per_step, 16, false);
    }
  }
  if (f.has("features") != b.features.defined())
    fail("teacher: the model gave bottleneck features for some batches only");
  h5::append_rows(f, "states", b.states);
  h5::append_rows(f, "seeds", at::tensor(b.seeds, at::kLong));
  if (b.features.defined()) h5::append_rows(f, "features", b.features);
  if (f.has("directions") != b.directions.defined()) fail("internal: directions for some batches only");
  if (b.directions.defined()) h5::append_rows(f, "directions", b.directions);
}

void finish_teacher_file(h5::File& f, const TeacherPlan& plan, int64_t samples, int64_t nfe,
                         const std::string& provenance) {
  const TeacherSpec& spec = plan.spec();
  h5::write_tensor(f, "sigmas", at::tensor(plan.student(), at::kDouble));
  h5::write_tensor(f, "teacher_sigmas", at::tensor(plan.teacher(), at::kDouble));
  f.set_attr("config", provenance);
  const ScheduleSpec& sc = spec.student_schedule;  // the student schedule, for self-describing predictors
  h5::write_schedule_attrs(f, sc, "schedule_");
  f.set_attr("model_fingerprint", plan.info().fingerprint);
  f.set_attr("teacher", spec.solver);
  f.set_attr("m", int64_t(spec.m));
  f.set_attr("nfe_per_sample", nfe);
  f.set_attr("num_samples", samples);
  f.set_attr("complete", int64_t(1));  // last: readers refuse files without it
}

TeacherReport generate_teacher(const TeacherSpec& spec, const ModelPtr& model, at::Device device,
                               const std::string& output, const Progress& progress) {
  if (spec.seeds.empty()) fail("teacher: no seeds given");
  TeacherPlan plan(spec, model, device);
  std::vector<std::vector<int64_t>> batches;
  for (size_t first = 0; first < spec.seeds.size(); first += size_t(spec.batch))
    batches.emplace_back(spec.seeds.begin() + first,
                         spec.seeds.begin() + std::min(spec.seeds.size(), first + size_t(spec.batch)));
  h5::AtomicPath target(output);
  TeacherReport report;
  auto t0 = std::chrono::steady_clock::now();
  {
    h5::File f = h5::File::create(target.temp());
    run_teacher_batches(plan, batches, spec.workers, [&](TeacherPlan::Batch& b) {
      append_teacher_batch(f, plan, b);
      report.nfe_per_sample = b.nfe;
      report.samples += int64_t(b.seeds.size());
      if (progress) progress(report.samples, int64_t(spec.seeds.size()));
    });
    finish_teacher_file(f, plan, report.samples, report.nfe_per_sample, spec.config_yaml);
    f.close();
  }
  target.commit();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace dsx
