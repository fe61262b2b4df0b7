#pragma once
// A `dataset:` mapping of a spec (the empirical testbed's images; training and metrics data): a kind from
// data/images.h with that kind's keys, plus `limit`. Read once; loading goes through a per-process cache,
// so a dataset named by several stages and sweep points is decoded once.
#include <memory>
#include <string>

#include "data/images.h"
#include "pipeline/schema.h"
#include "pipeline/yaml_util.h"

namespace dsx {

struct DatasetSpec {
  const DatasetKind* kind = nullptr;
  Options options;     // the kind's keys, paths resolved against the file they were written in
  int64_t limit = 0;   // the first `limit` images (0: all)
  std::string source;  // canonical text of the above: what identifies the dataset before it is read
};

// Every key of a dataset kind (kind + limit + its own), for --explain dataset.KIND.
Schema dataset_schema(const DatasetKind& kind);
DatasetSpec read_dataset(const YamlSource& src, const YAML::Node& node, const std::string& key_path);
// The images, decoded once per process per source.
std::shared_ptr<const ImageSet> load_dataset(const DatasetSpec& spec);

}  // namespace dsx
