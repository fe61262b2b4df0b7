#pragma once
// GITS's keys, declared once: the search_schedule stage's own keys and `dsx gits`'s `gits:` section.
#include "learned/gits_run.h"
#include "pipeline/schema.h"

namespace dsx {

const Schema& gits_settings_schema();  // nfe, coeff, metric, afs, student, afs_samples
// Reads those keys of `r` (other keys are the caller's: it rejects unknown ones and calls finish).
GitsSettings read_gits_settings(MapReader& r, const YamlSource& src);

}  // namespace dsx
