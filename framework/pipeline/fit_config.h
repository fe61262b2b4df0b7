#pragma once
// The keys of the end-to-end learners' training loop (learned/endpoint_fit.h), declared once: the
// learn_schedule and train_epd stages take them beside their own.
#include <nlohmann/json.hpp>

#include "learned/endpoint_fit.h"
#include "pipeline/schema.h"

namespace dsx {

const Schema& fit_settings_schema();  // iterations, batch, lr, validation, validate_every
// Reads those keys of `r` (other keys are the caller's: it rejects unknown ones and calls finish).
FitSettings read_fit_settings(MapReader& r);
// The settings as a stage's cache-key parameters.
nlohmann::json fit_params(const FitSettings& s);

}  // namespace dsx
