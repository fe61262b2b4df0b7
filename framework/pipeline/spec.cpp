#include "pipeline/spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "core/options.h"
#include "pipeline/sample_config.h"

namespace dsx {
namespace {

std::string emit(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

using Point = std::vector<std::pair<std::string, std::string>>;  // key path, value text

std::vector<Point> grid_points(const YamlSource& src) {
  std::vector<Point> points{{}};
  if (!src.root()["sweep"]) return points;
  MapReader r(src, src.root()["sweep"], "sweep");
  for (auto it = src.root()["sweep"].begin(); it != src.root()["sweep"].end(); ++it) {
    std::string key = it->first.Scalar();
    YAML::Node values = r.node(key);
    if (!values.IsSequence() || values.size() == 0)
      fail("{}: sweep.{} must be a non-empty list of values", r.where(key), key);
    std::vector<Point> next;
    for (const auto& p : points)
      for (const auto& v : values) {
        Point q = p;
        q.emplace_back(key, emit(v));
        next.push_back(q);
      }
    points = next;
  }
  return points;
}

std::string point_text(const Point& p) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : p) {
    std::string shortk = k.substr(k.rfind('.') + 1);
    parts.push_back(shortk + "=" + v);
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

const StageKind& find_kind(const std::vector<StageKind>& kinds, const std::string& name, const std::string& where) {
  std::vector<std::string> names;
  for (const auto& k : kinds) {
    if (k.name == name) return k;
    names.push_back(k.name);
  }
  std::string hint = did_you_mean(name, names);
  fail("{}: unknown stage kind '{}'{}; allowed: {}", where, name, hint.empty() ? "" : " (did you mean '" + hint + "'?)",
       fmt::join(names, ", "));
}

struct ParsedStage {
  std::string name;
  const StageKind* kind;
  StageDef def;
  YAML::Node node;
};

struct Expander {
  const std::vector<StageKind>& kinds;
  Plan plan;
  std::map<std::string, int> by_identity;
  std::map<std::string, std::vector<int>> variants;      // stage name → jobs
  std::map<std::string, std::pair<ParsedStage, std::shared_ptr<YamlSource>>> gathering;

  void add_point(std::shared_ptr<YamlSource> src, const Point& point) {
    MapReader top(*src, src->root(), "");
    const std::vector<std::string> keys = {"name", "model", "stages", "sweep", "light", "precision", "device"};
    top.reject_unknown(keys);
    plan.name = top.get_string("name");
    for (char c : plan.name)
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
        fail("{}: name '{}' may only hold letters, digits, '_', '-' and '.'", top.where("name"), plan.name);
    LoadedModel model = load_model(*src, top.node("model"), "model");
    std::string precision = top.get_string("precision", std::string("float32"));
    parse_precision(precision, top.where("precision"));
    std::string device = top.get_string("device", std::string("auto"));
    std::string dtype_device = precision + "/" + resolve_device(device).str();
    top.node("sweep");
    top.node("light");
    YAML::Node stages_node = top.node("stages");
    MapReader stages(*src, stages_node, "stages");
    top.finish(keys);

    std::vector<ParsedStage> parsed;
    std::map<std::string, int> index;
    for (auto it = stages_node.begin(); it != stages_node.end(); ++it) {
      std::string name = it->first.Scalar();
      std::string path = "stages." + name;
      YAML::Node node = stages.node(name);
      MapReader r(*src, node, path);
      if (!r.has("kind")) fail("{}: stage '{}' has no 'kind' (one of the registered stage kinds)", r.where("kind"), name);
      const StageKind& kind = find_kind(kinds, r.get_string("kind"), r.where("kind"));
      ParsedStage ps{name, &kind, kind.parse(r, *src, model), node};
      index[name] = int(parsed.size());
      parsed.push_back(std::move(ps));
    }
    std::vector<std::string> names;
    for (const auto& p : parsed) names.push_back(p.name);
    for (const auto& p : parsed)
      for (const auto& ref : p.def.refs)
        if (!index.count(ref.stage)) {
          std::string hint = did_you_mean(ref.stage, names);
          fail("{}: stage '{}' refers to '{}', which is not a stage of this spec{}; stages: {}", ref.where, p.name,
               ref.stage, hint.empty() ? "" : " (did you mean '" + hint + "'?)", fmt::join(names, ", "));
        } else if (!ref.kind.empty() && parsed[index[ref.stage]].kind->name != ref.kind) {
          fail("{}: stage '{}' refers to '{}', a {} stage; a {} stage is needed here", ref.where, p.name, ref.stage,
               parsed[index[ref.stage]].kind->name, ref.kind);
        }
    // Topological order; a reference back onto the current path is a cycle.
    std::vector<int> state(parsed.size(), 0), order;
    std::vector<std::string> stack;
    std::function<void(int, const std::string&)> visit = [&](int i, const std::string& where) {
      if (state[i] == 2) return;
      if (state[i] == 1) {
        auto from = std::find(stack.begin(), stack.end(), parsed[i].name);
        std::vector<std::string> cyc(from, stack.end());
        cyc.push_back(parsed[i].name);
        fail("{}: stages form a cycle: {}", where, fmt::join(cyc, " -> "));
      }
      state[i] = 1;
      stack.push_back(parsed[i].name);
      for (const auto& ref : parsed[i].def.refs) visit(index[ref.stage], ref.where);
      stack.pop_back();
      state[i] = 2;
      order.push_back(i);
    };
    for (size_t i = 0; i < parsed.size(); ++i) visit(int(i), src->where(parsed[i].node, "stages." + parsed[i].name));

    std::map<std::string, int> job_of;  // stage name → job at this point
    for (int i : order) {
      ParsedStage& p = parsed[i];
      if (p.kind->gathers) {
        for (const auto& ref : p.def.refs)
          if (parsed[index[ref.stage]].kind->gathers)
            fail("{}: a {} stage cannot take another {} stage as input", ref.where, p.kind->name, p.kind->name);
        auto found = gathering.find(p.name);
        if (found == gathering.end()) {
          gathering.emplace(p.name, std::make_pair(p, src));
        } else if (found->second.first.def.params != p.def.params) {
          fail("{}: stage '{}' ({}) collects every sweep point and must not itself vary with the sweep",
               src->where(p.node, "stages." + p.name), p.name, p.kind->name);
        }
        continue;
      }
      std::vector<int> deps;
      for (const auto& ref : p.def.refs) deps.push_back(job_of.at(ref.stage));
      std::string identity = p.kind->name + "|" + p.name + "|" + cache::canonical_text(p.def.params) + "|" +
                             dtype_device + "|" + model.model->info().fingerprint + "|" +
                             fmt::format("{}", fmt::join(deps, ","));
      auto hit = by_identity.find(identity);
      if (hit != by_identity.end()) {
        job_of[p.name] = hit->second;
        continue;
      }
      Job j;
      j.label = p.name;
      j.stage = p.name;
      j.kind = p.kind;
      j.params = p.def.params;
      j.deps = deps;
      j.src = src;
      j.node = p.node;
      j.key_path = "stages." + p.name;
      j.point = point_text(point);
      j.model_fingerprint = model.model->info().fingerprint;
      j.dtype_device = dtype_device;
      int id = int(plan.jobs.size());
      plan.jobs.push_back(std::move(j));
      by_identity[identity] = id;
      variants[p.name].push_back(id);
      job_of[p.name] = id;
    }
  }

  void finish() {
    for (auto& [name, entry] : gathering) {
      auto& [p, src] = entry;
      Job j;
      j.label = j.stage = name;
      j.kind = p.kind;
      j.params = p.def.params;
      for (const auto& ref : p.def.refs)
        for (int d : variants[ref.stage]) j.deps.push_back(d);
      j.src = src;
      j.node = p.node;
      j.key_path = "stages." + name;
      const Job& any = plan.jobs.at(j.deps.at(0));
      j.model_fingerprint = any.model_fingerprint;
      j.dtype_device = any.dtype_device;
      plan.jobs.push_back(std::move(j));
    }
    for (auto& j : plan.jobs)
      if (!j.kind->gathers && variants[j.stage].size() > 1 && !j.point.empty()) j.label = j.stage + "[" + j.point + "]";
  }
};

Plan expand(const std::function<std::shared_ptr<YamlSource>()>& load, const SpecOptions& opts,
            const std::vector<StageKind>& kinds) {
  auto apply = [&](YamlSource& src) {
    if (opts.light) {
      if (!src.root()["light"]) fail("{}: --light given but the spec has no 'light' section", src.path());
      MapReader light(src, src.root()["light"], "light");
      for (auto it = src.root()["light"].begin(); it != src.root()["light"].end(); ++it)
        src.apply_override(it->first.Scalar() + "=" + emit(it->second));
    }
    for (const auto& o : opts.overrides) src.apply_override(o);
  };
  std::shared_ptr<YamlSource> first = load();
  apply(*first);
  if (!first->root().IsMap()) fail("{}: a spec must be a mapping (name, model, stages)", first->path());
  std::vector<Point> points = grid_points(*first);
  Expander ex{kinds, {}, {}, {}, {}};
  for (size_t i = 0; i < points.size(); ++i) {
    std::shared_ptr<YamlSource> src = i == 0 && points[i].empty() ? first : load();
    if (src != first) apply(*src);
    for (const auto& [k, v] : points[i]) src->apply_override(k + "=" + v);
    ex.add_point(src, points[i]);
    YAML::Emitter e;
    e << src->root();
    if (!points[i].empty()) ex.plan.resolved_yaml += "# sweep point: " + point_text(points[i]) + "\n";
    ex.plan.resolved_yaml += std::string(e.c_str()) + "\n---\n";
  }
  ex.finish();
  ex.plan.source = first;
  return std::move(ex.plan);
}

}  // namespace

Plan load_plan(const std::string& path, const SpecOptions& opts, const std::vector<StageKind>& kinds) {
  return expand([&] { return std::make_shared<YamlSource>(YamlSource::load_file(path)); }, opts, kinds);
}

Plan load_plan_string(const std::string& text, const std::string& name, const SpecOptions& opts,
                      const std::vector<StageKind>& kinds) {
  return expand([&] { return std::make_shared<YamlSource>(YamlSource::load_string(text, name)); }, opts, kinds);
}

}  // namespace dsx
