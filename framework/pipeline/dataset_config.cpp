#include "pipeline/dataset_config.h"

#include <map>
#include <mutex>

#include "core/error.h"
#include "core/registry.h"

namespace dsx {

Schema dataset_schema(const DatasetKind& kind) {
  std::vector<std::string> kinds;
  for (const auto& k : dataset_kinds()) kinds.push_back(k.name);
  Schema s{opt::choice("kind", kinds, kind.name, "the image source"),
           opt::integer("limit", 0, 0, int64_t(1) << 31, "keep the first N images (0: all)")};
  s.insert(s.end(), kind.options.begin(), kind.options.end());
  return s;
}

DatasetSpec read_dataset(const YamlSource& src, const YAML::Node& node, const std::string& key_path) {
  MapReader r(src, node, key_path);
  DatasetSpec d;
  d.kind = &find_entry(dataset_kinds(), r.get_string("kind"), r.path("kind"), r.where("kind"));
  const Schema schema = dataset_schema(*d.kind);
  r.reject_unknown(key_names(schema));
  d.limit = read_int(r, schema, "limit");
  require_keys(r, schema);
  std::map<std::string, RawOption> raw = r.rest_as_options({"kind", "limit"});
  for (const auto& o : d.kind->options)  // paths are relative to the file they were written in
    if (o.type == OptionType::Path && raw.count(o.name))
      raw[o.name].text = src.resolve_path(raw[o.name].text, r.path(o.name));
  try {
    d.options = Options::resolve(d.kind->options, raw, key_path + ".");
  } catch (const Error& e) {
    fail("{}: {}", src.where(node, key_path), e.what());
  }
  r.finish(key_names(schema));
  d.source = d.kind->name + ";" + d.options.canonical() + ";limit=" + std::to_string(d.limit);
  return d;
}

std::shared_ptr<const ImageSet> load_dataset(const DatasetSpec& spec) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const ImageSet>> loaded;
  std::lock_guard<std::mutex> lock(mutex);  // decoding is rare and large: one at a time
  auto it = loaded.find(spec.source);
  if (it != loaded.end()) return it->second;
  auto set = std::make_shared<const ImageSet>(load_images(*spec.kind, spec.options, spec.limit));
  return loaded.emplace(spec.source, set).first->second;
}

}  // namespace dsx
