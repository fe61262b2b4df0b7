#pragma once
// Everything needed to sample with (and to reproduce the training of) an AMED predictor; stored as
// attributes in the predictor file so a trained predictor is self-describing (as the official pickles).
#include <string>

#include "diffusion/schedule.h"

namespace dsx {

struct AmedSettings {
  std::string student = "amed";  // amed | euler | dpm2 | ipndm | dpmpp (official) | any base with a step form
  std::string teacher = "heun";  // any registered solver
  int m = 1;                     // teacher inserts M points between student points
  ScheduleSpec schedule;         // student schedule (num_steps = N student points)
  bool afs = true;
  int max_order = 3;              // ipndm 1–4, dpmpp 1–3
  bool predict_x0 = true;         // dpmpp
  bool lower_order_final = true;  // dpmpp
  // Bases beyond the official plugins (unipc, deis, scire, ipndm_v, ...): all their own options, resolved,
  // as "k=v;k=v" in key order (base_option_text); empty for the official ones, which use the keys above.
  std::string base_options;
  // The predictor's input as trained: "model" (the model's 8×8 features) or "zero"; stored in the predictor
  // file so sampling feeds the predictor what it learned from (files without it: "model").
  std::string features = "model";
  double scale_dir = 0.01;  // a_d: c ∈ (1 − a_d, 1 + a_d); 0 = no head
  double scale_time = 0.0;  // a_t: a ∈ (1 − a_t, 1 + a_t); 0 = no head

  int nfe() const { return 2 * (schedule.num_steps - 1) - (afs ? 1 : 0); }
};

}  // namespace dsx
