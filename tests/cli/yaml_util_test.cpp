// Strict YAML reading: locations, --set overrides (including nested values), path resolution and
// `include:` merging (deep merge order, per-file locations and relative paths, cycles, missing files).
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "pipeline/yaml_util.h"
#include "support/scratch.h"

namespace dsx {

BOOST_AUTO_TEST_SUITE(yaml_source)

BOOST_AUTO_TEST_CASE(overrides_locations_and_paths) {
  YamlSource src = YamlSource::load_string("model:\n  file: gmm.h5\nsolver:\n  name: euler\n", "cfg/spec.yaml");
  src.apply_override("solver={name: ipndm, amed: {predictor: p.h5}}");
  src.apply_override("schedule.num_steps=7");
  MapReader top(src, src.root(), "");
  MapReader model(src, top.node("model"), "model");
  BOOST_TEST(model.where("file") == "cfg/spec.yaml:2:9");
  BOOST_TEST(src.resolve_path("gmm.h5", "model.file") == "cfg/gmm.h5");  // relative to the file
  MapReader solver(src, top.node("solver"), "solver");
  BOOST_TEST(solver.get_string("name") == "ipndm");
  // A value set on the command line, even nested inside an overridden map, is relative to the cwd.
  BOOST_TEST(src.overridden("solver.amed.predictor"));
  BOOST_TEST(src.resolve_path("p.h5", "solver.amed.predictor") == "p.h5");
  BOOST_TEST(solver.where("name") == "--set solver={name: ipndm, amed: {predictor: p.h5}}");
  MapReader sched(src, top.node("schedule"), "schedule");
  BOOST_TEST(sched.get_int("num_steps") == 7);
  BOOST_CHECK_THROW(src.apply_override("no_equals_sign"), Error);
  BOOST_CHECK_THROW(src.apply_override("model.file.x=1"), Error);  // 'model.file' is not a mapping
}

BOOST_AUTO_TEST_CASE(syntax_errors_carry_line_and_column) {
  try {
    YamlSource::load_string("a: 1\nb: [1, 2\n", "bad.yaml");
    BOOST_FAIL("no error");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()).find("bad.yaml:") == 0u);
    BOOST_TEST(std::string(e.what()).find("YAML syntax error") != std::string::npos);
  }
}

namespace {
void write_file(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}
}  // namespace

// base.yaml < more.yaml (which includes base.yaml) < spec.yaml < --set.
BOOST_AUTO_TEST_CASE(includes_merge_deep_and_keep_their_locations) {
  test::TempDir tmp("dsx_yaml");
  write_file(tmp.file("common/base.yaml"),
             "solver: {name: euler, order: 2, s_churn: 0.5}\n"
             "seeds: [1, 2, 3]\n"
             "output: out/base.h5\n");
  write_file(tmp.file("common/more.yaml"), "include: base.yaml\nsolver: {order: 3}\nlatents: {file: z.h5}\n");
  write_file(tmp.file("spec.yaml"), "include: common/more.yaml\nseeds: [7]\nsolver:\n  name: heun\n");
  YamlSource src = YamlSource::load_file(tmp.file("spec.yaml"), Includes::merge);
  MapReader top(src, src.root(), "");
  BOOST_TEST(!top.has("include"));  // consumed by the merge
  MapReader solver(src, top.node("solver"), "solver");
  BOOST_TEST(solver.get_string("name") == "heun");  // the spec over its includes
  BOOST_TEST(solver.get_int("order") == 3);         // an includer over what it includes
  BOOST_TEST(solver.get_double("s_churn") == 0.5);  // maps merge key by key
  BOOST_TEST(src.root()["seeds"].size() == 1u);     // lists are replaced whole
  BOOST_TEST(solver.where("name") == tmp.file("spec.yaml") + ":4:9");
  BOOST_TEST(solver.where("order") == tmp.file("common/more.yaml") + ":2:17");
  BOOST_TEST(solver.where("s_churn") == tmp.file("common/base.yaml") + ":1:42");
  BOOST_TEST(top.where("seeds") == tmp.file("spec.yaml") + ":2:8");
  // Relative paths follow the file that wrote them.
  BOOST_TEST(src.resolve_path("out/base.h5", "output") == tmp.file("common/out/base.h5"));
  BOOST_TEST(src.resolve_path("z.h5", "latents.file") == tmp.file("common/z.h5"));
  BOOST_TEST(src.resolve_path("x.h5", "solver.name") == tmp.file("x.h5"));
  BOOST_REQUIRE_EQUAL(src.included().size(), 2u);
  BOOST_TEST(src.included()[0] == tmp.file("common/more.yaml"));
  BOOST_TEST(src.included()[1] == tmp.file("common/base.yaml"));
  // --set applies on top of the merge and names itself.
  src.apply_override("solver.order=5");
  MapReader again(src, src.root()["solver"], "solver");
  BOOST_TEST(again.get_int("order") == 5);
  BOOST_TEST(again.where("order") == "--set solver.order=5");
  // Without Includes::merge, `include` is an ordinary key (configs that do not support it reject it).
  YamlSource plain = YamlSource::load_file(tmp.file("spec.yaml"));
  BOOST_TEST(plain.root()["include"].Scalar() == "common/more.yaml");
  BOOST_TEST(plain.included().empty());
}

// A YAML alias shares one node between keys; overriding one key (--set or an including file) must not
// change the other, and must keep the key order.
BOOST_AUTO_TEST_CASE(overrides_through_an_alias_change_only_that_key) {
  YamlSource src = YamlSource::load_string("a: {m: &m [1, 2], n: 0}\nb: {m: *m}\n", "alias.yaml");
  src.apply_override("a.m=[3]");
  BOOST_TEST(src.root()["a"]["m"].size() == 1u);
  BOOST_TEST(src.root()["b"]["m"].size() == 2u);
  BOOST_TEST(src.root()["b"]["m"][1].as<int>() == 2);
  BOOST_TEST(src.root()["a"].begin()->first.Scalar() == "m");
  test::TempDir tmp("dsx_yaml");
  write_file(tmp.file("base.yaml"), "x: &x [1]\ny: *x\n");
  write_file(tmp.file("spec.yaml"), "include: base.yaml\nx: [2, 3]\n");
  YamlSource merged = YamlSource::load_file(tmp.file("spec.yaml"), Includes::merge);
  BOOST_TEST(merged.root()["x"].size() == 2u);
  BOOST_TEST(merged.root()["y"].size() == 1u);
  BOOST_TEST(merged.root().begin()->first.Scalar() == "x");
  BOOST_TEST(merged.where(merged.root()["x"], "x") == tmp.file("spec.yaml") + ":2:4");
}

BOOST_AUTO_TEST_CASE(include_errors_name_the_entry) {
  test::TempDir tmp("dsx_yaml");
  write_file(tmp.file("a.yaml"), "x: 1\ninclude: [b.yaml]\n");
  write_file(tmp.file("b.yaml"), "include: c.yaml\n");
  write_file(tmp.file("c.yaml"), "y: 2\ninclude: b.yaml\n");
  std::string e = test::error_message([&] { YamlSource::load_file(tmp.file("a.yaml"), Includes::merge); });
  BOOST_TEST(e == tmp.file("c.yaml") + ":2:10: include 'b.yaml' makes a cycle: " + tmp.file("b.yaml") + " -> " +
                      tmp.file("c.yaml") + " -> " + tmp.file("b.yaml"));
  write_file(tmp.file("c.yaml"), "include: [gone.yaml]\n");
  e = test::error_message([&] { YamlSource::load_file(tmp.file("a.yaml"), Includes::merge); });
  BOOST_TEST(e == tmp.file("c.yaml") + ":1:11: include 'gone.yaml': no such file (" + tmp.file("gone.yaml") + ")");
  write_file(tmp.file("c.yaml"), "include: {file: x.yaml}\n");
  e = test::error_message([&] { YamlSource::load_file(tmp.file("a.yaml"), Includes::merge); });
  BOOST_TEST(e == tmp.file("c.yaml") + ":1:10: 'include' must be a file path or a list of file paths, got a mapping");
  write_file(tmp.file("c.yaml"), "z: [1, 2\n");
  e = test::error_message([&] { YamlSource::load_file(tmp.file("a.yaml"), Includes::merge); });
  BOOST_TEST(e.rfind(tmp.file("c.yaml") + ":2:", 0) == 0u);  // syntax errors name the included file
  BOOST_TEST(e.find("YAML syntax error") != std::string::npos);
}

// What the spec fuzzer (tools/drills/spec_fuzz.py) found without a location, each now with file:line:col.
BOOST_AUTO_TEST_CASE(fuzzed_specs_get_a_location) {
  // A byte that is not UTF-8 (here 0xCE in the middle of a title) is refused where it stands.
  std::string e =
      test::error_message([] { YamlSource::load_string("name: x\ntitle: \"NFE 5 o\xCEn the mixture\"\n", "u.yaml"); });
  BOOST_TEST(e == "u.yaml:2:16: not UTF-8 text (byte 0xCE); specs are UTF-8");
  YamlSource ok = YamlSource::load_string("name: \"σ → ∞ 😀\"\n", "ok.yaml");  // UTF-8 is fine
  BOOST_TEST(ok.root()["name"].Scalar() == "σ → ∞ 😀");
  // A key missing from a document that has no mapping of its own (all includes, or empty) points at its top.
  YamlSource empty = YamlSource::load_string("", "empty.yaml");
  MapReader top(empty, empty.root(), "");
  e = test::error_message([&] { top.missing("name"); });
  BOOST_TEST(e == "empty.yaml:1:1: missing required key 'name'");
  // A key a sweep point (or the light section) assigns is located at the value that assigned it.
  YamlSource swept = YamlSource::load_string("name: x\nsweep:\n  bomb: [1, 2]\n", "s.yaml");
  swept.assign("bomb", swept.root()["sweep"]["bomb"][1], "sweep.bomb");
  MapReader root(swept, swept.root(), "");
  e = test::error_message([&] { root.reject_unknown({"name", "sweep"}); });
  BOOST_TEST(e.rfind("s.yaml:3:13: unknown key 'bomb'", 0) == 0u, e);
  // A key given twice, or an empty key, is refused where it stands (yaml-cpp would keep the first silently);
  // a billion-laughs alias bomb costs nothing to check (each mapping or list is visited once).
  e = test::error_message([] { YamlSource::load_string("a: 1\nb:\n  c: 2\n  c: 3\n", "d.yaml"); });
  BOOST_TEST(e == "d.yaml:4:3: key 'c' is given twice in this mapping (also at line 3)");
  e = test::error_message([] { YamlSource::load_string("a:\n  : 1\n", "k.yaml"); });
  BOOST_TEST(e == "k.yaml:2:3: a key must be a name, got null");
  std::string bomb = "a: [&l0 [x, x, x, x, x, x, x, x, x, x]";
  for (int k = 1; k < 10; ++k) {
    bomb += ", &l" + std::to_string(k) + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", *l" : "*l") + std::to_string(k - 1);
    bomb += "]";
  }
  BOOST_TEST(YamlSource::load_string(bomb + "]\n", "b.yaml").root()["a"].size() == 10u);
  // An output name the file system cannot take fails when the spec is read, not after the work.
  YamlSource out = YamlSource::load_string("output: " + std::string(300, 'x') + ".h5\nexport: ''\n", "dir/o.yaml");
  MapReader o(out, out.root(), "");
  e = test::error_message([&] { o.get_output_path("output"); });
  BOOST_TEST(e == "dir/o.yaml:1:9: output: the file name is 303 bytes long; file systems allow 255");
  e = test::error_message([&] { o.get_output_path("export"); });
  BOOST_TEST(e == "dir/o.yaml:2:9: export is empty; name the file to write");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
