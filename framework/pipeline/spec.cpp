#include "pipeline/spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "core/options.h"
#include "core/registry.h"
#include "pipeline/sample_config.h"

namespace dsx {
namespace {

// Whether `name` is one of the "|"-separated `alternatives`.
bool one_of(const std::string& name, const std::string& alternatives) {
  size_t start = 0;
  while (true) {
    const size_t end = alternatives.find('|', start);
    if (alternatives.substr(start, end == std::string::npos ? std::string::npos : end - start) == name) return true;
    if (end == std::string::npos) return false;
    start = end + 1;
  }
}

std::string or_list(std::string alternatives) {
  for (size_t at = alternatives.find('|'); at != std::string::npos; at = alternatives.find('|', at))
    alternatives.replace(at, 1, " or ");
  return alternatives;
}

std::string emit(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

// key path = value, as written in the spec at `written_at` (a sweep entry); text is for labels.
struct Assignment {
  std::string key, text;
  YAML::Node value;
  std::string written_at;
};
using Point = std::vector<Assignment>;
// One dimension of a sweep: a grid key (one assignment per value) or a zip group (several per position).
// Axes are crossed; the entries of one axis are walked in order.
using Axis = std::vector<Point>;

// Reads `sweep:`: every key but `zip` is a grid axis; `zip` holds one group {key.path: [values]} or a list
// of groups, each one axis whose lists are walked together.
class SweepReader {
 public:
  explicit SweepReader(const YamlSource& src) : src_(src) {}

  std::vector<Point> points() {
    std::vector<Point> points{{}};
    const YAML::Node& sweep = src_.root()["sweep"];
    if (!sweep) return points;
    MapReader checked(src_, sweep, "sweep");  // a mapping, else an error at its location
    for (auto it = sweep.begin(); it != sweep.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (key == "zip")
        read_zip(it->second);
      else
        axes_.push_back(grid_axis(key, it->second));
    }
    for (const Axis& axis : axes_) {
      std::vector<Point> crossed;
      for (const Point& p : points)
        for (const Point& entry : axis) {
          crossed.push_back(p);
          crossed.back().insert(crossed.back().end(), entry.begin(), entry.end());
        }
      points = std::move(crossed);
    }
    return points;
  }

 private:
  YAML::Node values_of(const YAML::Node& values, const std::string& name, const std::string& location) {
    if (!values.IsSequence() || values.size() == 0)
      fail("{}: {} must be a non-empty list of values", src_.where(values, location), name);
    return values;
  }

  // A key swept twice would silently keep the last value of each point.
  void claim(const std::string& key, const std::string& where) {
    auto [it, fresh] = swept_.emplace(key, where);
    if (!fresh) fail("{}: '{}' is swept twice (also at {})", where, key, it->second);
  }

  Axis grid_axis(const std::string& key, const YAML::Node& values) {
    const std::string location = "sweep." + key;
    claim(key, src_.where(values, location));
    Axis axis;
    for (const auto& v : values_of(values, location, location)) axis.push_back({{key, emit(v), v, location}});
    return axis;
  }

  void read_zip(const YAML::Node& zip) {
    if (zip.IsMap()) {
      axes_.push_back(zip_axis(zip, "sweep.zip", "sweep.zip", true));
    } else if (zip.IsSequence() && zip.size() > 0) {
      for (size_t i = 0; i < zip.size(); ++i)
        axes_.push_back(zip_axis(zip[i], fmt::format("sweep.zip[{}]", i), "sweep.zip", false));
    } else {
      fail("{}: sweep.zip must be a mapping {{key.path: [values], ...}} or a non-empty list of such mappings",
           src_.where(zip, "sweep.zip"));
    }
  }

  // `location`: the key path locations are looked up under (list entries have none of their own).
  Axis zip_axis(const YAML::Node& group, const std::string& name, const std::string& location, bool keyed) {
    if (!group.IsMap() || group.size() == 0)
      fail("{}: {} must be a non-empty mapping {{key.path: [values], ...}}", src_.where(group, location), name);
    Axis axis;
    std::string first_key;
    for (auto it = group.begin(); it != group.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string at = keyed ? location + "." + key : location;
      const YAML::Node values = values_of(it->second, name + "." + key, at);
      claim(key, src_.where(values, at));
      if (axis.empty()) {
        axis.resize(values.size());
        first_key = key;
      } else if (values.size() != axis.size()) {
        fail(
            "{}: {}: the lists of a zip group are walked together and must have equal lengths; '{}' has {} "
            "values, '{}' has {}",
            src_.where(values, at), name, first_key, axis.size(), key, values.size());
      }
      for (size_t i = 0; i < values.size(); ++i) axis[i].push_back({key, emit(values[i]), values[i], at});
    }
    return axis;
  }

  const YamlSource& src_;
  std::vector<Axis> axes_;
  std::map<std::string, std::string> swept_;  // key path → where it is swept
};

// Each key by its shortest dotted suffix that no other key of the point ends with, so labels stay short
// ("num_steps=3") yet unambiguous ("teacher.seeds=0-9,eval.seeds=100-109").
std::string point_text(const Point& point) {
  auto suffix = [](const std::string& key, size_t components) {
    size_t pos = key.size();
    for (size_t i = 0; i < components && pos != std::string::npos && pos > 0; ++i) pos = key.rfind('.', pos - 1);
    return pos == std::string::npos ? key : key.substr(pos + 1);
  };
  auto ends_with = [](const std::string& key, const std::string& tail) {
    return key == tail || (key.size() > tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0 &&
                           key[key.size() - tail.size() - 1] == '.');
  };
  std::vector<std::string> parts;
  for (const auto& [key, value, node, at] : point) {
    std::string label = key;
    for (size_t n = 1; suffix(key, n) != key; ++n) {
      std::string tail = suffix(key, n);
      bool shared = false;
      for (const auto& other : point) shared = shared || (other.key != key && ends_with(other.key, tail));
      if (!shared) {
        label = tail;
        break;
      }
    }
    parts.push_back(label + "=" + value);
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

// A string YAML would read back as something else (a number, a bool, null) must be quoted.
bool reads_as_non_string(const std::string& text) {
  try {
    YAML::Node n = YAML::Load(text);
    if (!n.IsScalar() || n.Scalar() != text) return true;
    double d;
    bool b;
    return YAML::convert<double>::decode(n, d) || YAML::convert<bool>::decode(n, b);
  } catch (const YAML::Exception&) {
    return true;
  }
}

void emit_json(YAML::Emitter& out, const json& j) {
  if (j.is_structured() && j.empty()) out << YAML::Flow;  // "{}" and "[]" rather than a dangling block
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit_json(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    bool flat = std::none_of(j.begin(), j.end(), [](const json& e) { return e.is_structured(); });
    if (flat) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& e : j) emit_json(out, e);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (reads_as_non_string(s)) out << YAML::DoubleQuoted;
    out << s;
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();  // numbers and bools: JSON's shortest round-trip text is valid YAML
  }
}

// The last document of the resolved spec: what each job will compute, defaults filled in.
std::string jobs_document(const Plan& plan) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "jobs" << YAML::Value << YAML::BeginMap;
  for (const Job& j : plan.jobs) {
    out << YAML::Key << j.label << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "kind" << YAML::Value << j.kind->name;
    if (!j.point.empty()) out << YAML::Key << "sweep_point" << YAML::Value << j.point;
    if (!j.deps.empty()) {
      out << YAML::Key << "inputs" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (int d : j.deps) out << plan.jobs[d].label;
      out << YAML::EndSeq;
    }
    out << YAML::Key << "params" << YAML::Value;
    emit_json(out, j.params);
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  return "# every job (one per distinct computation: sweep points share upstream jobs) with the canonical\n"
         "# parameters its stage kind resolved, defaults filled in; they are part of its cache key\n" +
         std::string(out.c_str()) + "\n";
}

std::string point_document(const YamlSource& src, const Point& point) {
  YAML::Emitter out;
  out << src.root();
  std::string comment = point.empty() ? "" : "# sweep point: " + point_text(point) + "\n";
  return comment + out.c_str() + "\n---\n";
}

std::string header(const YamlSource& src, const SpecOptions& opts) {
  std::string text = "# " + src.path() + " resolved";
  if (!src.included().empty()) text += fmt::format("; included: {}", fmt::join(src.included(), ", "));
  if (opts.light) text += "; --light";
  for (const auto& o : opts.overrides) text += "; --set " + o;
  return text + "\n";
}

const StageKind& find_kind(const std::vector<StageKind>& kinds, const std::string& name, const std::string& where) {
  return find_entry(kinds, name, "stage kind", where);
}

struct ParsedStage {
  std::string name;
  const StageKind* kind;
  StageDef def;
  YAML::Node node;
};

std::string model_fingerprint(const ModelPtr& m) { return m ? m->info().fingerprint : "none"; }

struct Expander {
  const std::vector<StageKind>& kinds;
  Plan plan;
  std::map<std::string, int> by_identity;
  std::map<std::string, std::vector<int>> variants;  // stage name → jobs
  std::map<std::string, std::pair<ParsedStage, std::shared_ptr<YamlSource>>> gathering;
  // Stage mappings already parsed at an earlier sweep point: a mapping with the same text, written at the
  // same place, on the same model and precision parses to the same StageDef, so it is parsed once.
  std::map<std::string, StageDef> parsed_before;

  StageDef parse_once(const StageKind& kind, MapReader& r, const YamlSource& src, const YAML::Node& node,
                      const std::string& path, const SpecContext& ctx, const std::string& dtype_device) {
    YAML::Emitter text;
    text << node;
    const std::string memo = kind.name + "|" + src.where(node, path) + "|" + model_fingerprint(ctx.model) + "|" +
                             dtype_device + "|" + text.c_str();
    auto it = parsed_before.find(memo);
    if (it != parsed_before.end()) return it->second;
    return parsed_before.emplace(memo, kind.parse(r, src, ctx)).first->second;
  }

  void add_point(std::shared_ptr<YamlSource> src, const Point& point) {
    MapReader top(*src, src->root(), "");
    const std::vector<std::string> keys = {"name",  "model",     "stages", "sweep",
                                           "light", "precision", "device", "include"};
    top.reject_unknown(keys);
    // Files merge their includes as they are read (YamlSource), so one here came from --set or light.
    if (top.node("include").IsDefined())
      fail("{}: 'include' is only read from spec files; write it in the spec", top.where("include"));
    for (const char* key : {"name", "stages"})
      if (!top.has(key)) top.missing(key);
    plan.name = top.get_string("name");
    for (char c : plan.name)
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
        fail("{}: name '{}' may only hold letters, digits, '_', '-' and '.'", top.where("name"), plan.name);
    // Once per process (the ModelPool). A spec without a model holds only stages that need none (train_model).
    ModelPtr model = top.has("model") ? load_model(*src, top.node("model"), "model") : nullptr;
    std::string precision = top.get_string("precision", std::string("float32"));
    const at::ScalarType dtype = parse_precision(precision, top.where("precision"));
    const at::Device device = resolve_device(top.get_string("device", std::string("auto")));
    std::string dtype_device = precision + "/" + device.str();
    top.node("sweep");
    top.node("light");
    YAML::Node stages_node = top.node("stages");
    MapReader stages(*src, stages_node, "stages");
    top.finish(keys);

    // Every stage is parsed, and every reference checked, before any error is reported: a user sees all
    // the problems of the spec at once (ErrorList), each with its own file:line:col.
    std::vector<ParsedStage> parsed;
    std::map<std::string, int> index;
    ErrorList errors;
    std::vector<std::string> names;
    for (auto it = stages_node.begin(); it != stages_node.end(); ++it) names.push_back(it->first.Scalar());
    for (auto it = stages_node.begin(); it != stages_node.end(); ++it) {
      std::string name = it->first.Scalar();
      std::string path = "stages." + name;
      errors.capture([&] {
        YAML::Node node = stages.node(name);
        MapReader r(*src, node, path);
        if (!r.has("kind"))
          fail("{}: stage '{}' has no 'kind' (one of the registered stage kinds)", r.where("kind"), name);
        const StageKind& kind = find_kind(kinds, r.get_string("kind"), r.where("kind"));
        if (kind.needs_model && !model)
          fail("{}: stage '{}' ({}) needs the spec's model: a top-level `model: {{kind: ...}}` mapping",
               r.where("kind"), name, kind.name);
        ParsedStage ps{name, &kind,
                       parse_once(kind, r, *src, node, path, SpecContext{model, dtype, device}, dtype_device), node};
        index[name] = int(parsed.size());
        parsed.push_back(std::move(ps));
      });
    }
    for (const auto& p : parsed)
      for (const auto& ref : p.def.refs)
        errors.capture([&] {
          const bool exists = std::find(names.begin(), names.end(), ref.stage) != names.end();
          if (!exists) {
            std::string hint = did_you_mean(ref.stage, names);
            fail("{}: stage '{}' refers to '{}', which is not a stage of this spec{}; stages: {}", ref.where, p.name,
                 ref.stage, hint.empty() ? "" : " (did you mean '" + hint + "'?)", fmt::join(names, ", "));
          }
          // A reference to a stage that failed to parse is reported by that stage's own error.
          // ref.kind: the kind needed, or alternatives "a|b".
          if (index.count(ref.stage) && !ref.kind.empty() && !one_of(parsed[index[ref.stage]].kind->name, ref.kind))
            fail("{}: stage '{}' refers to '{}', a {} stage; a {} stage is needed here", ref.where, p.name, ref.stage,
                 parsed[index[ref.stage]].kind->name, or_list(ref.kind));
        });
    errors.throw_if_any();
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
                             dtype_device + "|" + model_fingerprint(model) + "|" +
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
      j.typed = p.def.typed;
      j.params = p.def.params;
      j.deps = deps;
      j.key_path = "stages." + p.name;
      j.point = point_text(point);
      j.model = model;
      j.dtype = dtype;
      j.device = device;
      j.model_fingerprint = model_fingerprint(model);
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
      j.typed = p.def.typed;
      j.params = p.def.params;
      for (const auto& ref : p.def.refs)
        for (int d : variants[ref.stage]) j.deps.push_back(d);
      j.key_path = "stages." + name;
      const Job& any = plan.jobs.at(j.deps.at(0));
      j.model = any.model;
      j.dtype = any.dtype;
      j.device = any.device;
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
        src.assign(it->first.Scalar(), it->second, "light." + it->first.Scalar());
    }
    for (const auto& o : opts.overrides) src.apply_override(o);
  };
  std::shared_ptr<YamlSource> first = load();
  apply(*first);
  if (!first->root().IsMap()) fail("{}: a spec must be a mapping (name, model, stages)", first->path());
  std::vector<Point> points = SweepReader(*first).points();
  Expander ex{kinds, {}, {}, {}, {}, {}};
  for (size_t i = 0; i < points.size(); ++i) {
    std::shared_ptr<YamlSource> src = i == 0 && points[i].empty() ? first : load();
    if (src != first) apply(*src);
    for (const auto& a : points[i]) src->assign(a.key, a.value, a.written_at);
    ex.add_point(src, points[i]);
    ex.plan.resolved_yaml += point_document(*src, points[i]);
  }
  ex.finish();
  ex.plan.resolved_yaml = header(*first, opts) + ex.plan.resolved_yaml + jobs_document(ex.plan);
  ex.plan.source = first;
  return std::move(ex.plan);
}

}  // namespace

// Each sweep point is its own document (sweep values are assigned into it), built from file texts read once.
Plan load_plan(const std::string& path, const SpecOptions& opts, const std::vector<StageKind>& kinds) {
  SourceFiles files;
  Plan plan = expand([&] { return std::make_shared<YamlSource>(YamlSource::load_file(path, Includes::merge, &files)); },
                     opts, kinds);
  plan.files_read = files.reads();
  return plan;
}

Plan load_plan_string(const std::string& text, const std::string& name, const SpecOptions& opts,
                      const std::vector<StageKind>& kinds) {
  SourceFiles files;
  Plan plan =
      expand([&] { return std::make_shared<YamlSource>(YamlSource::load_string(text, name, Includes::merge, &files)); },
             opts, kinds);
  plan.files_read = files.reads();
  return plan;
}

}  // namespace dsx
