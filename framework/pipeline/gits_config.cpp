#include "pipeline/gits_config.h"

#include "pipeline/sample_config.h"

namespace dsx {

const Schema& gits_settings_schema() {
  static const Schema schema = {
      opt::integer("nfe", 5, 1, 1000,
                   "student steps K (the NFE of one-evaluation-per-step solvers: euler, ipndm, dpmpp, unipc, deis): "
                   "the grid has K + 1 points, K + 2 with afs"),
      opt::number("coeff", 1.15, 0.0, 100.0, "the DP's weight growth per step (official 1.15; 1.20 for SD)")
          .exclusive_min(),
      opt::choice("metric", {"dev", "l1", "l2"}, "dev",
                  "the one-step cost: dev (signed deviation from the trajectory's chord, official default), l1, l2"),
      opt::flag("afs", false,
                "GITS's AFS insertion: one more point after σ_max, chosen by the student's error with AFS on the "
                "last afs_samples teacher trajectories (the first step is then analytic: NFE unchanged)"),
      opt::section("student", false, "{name: ipndm}", "the solver that chooses the AFS point (afs only)"),
      opt::integer("afs_samples", 64, 1, 1 << 20, "trajectories the AFS point is chosen on (official: the last round)"),
  };
  return schema;
}

GitsSettings read_gits_settings(MapReader& r, const YamlSource& src) {
  const Schema& schema = gits_settings_schema();
  GitsSettings s;
  s.nfe = read_int(r, schema, "nfe");
  s.coeff = read_number(r, schema, "coeff");
  s.metric = read_choice(r, schema, "metric");
  s.afs = read_flag(r, schema, "afs");
  if (r.has("student")) {
    const SolverConfig student = read_solver(src, r.node("student"), r.path("student"));
    s.student = student.name;
    s.student_options = student.options;
  }
  s.afs_samples = read_int(r, schema, "afs_samples");
  return s;
}

}  // namespace dsx
