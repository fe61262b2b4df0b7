// Strict YAML reading: locations, --set overrides (including nested values) and path resolution.
#include <boost/test/unit_test.hpp>

#include "core/error.h"
#include "pipeline/yaml_util.h"

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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
