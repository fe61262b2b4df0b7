// HDF5 layer: round trips, attributes, errors with context, atomic replacement.
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "core/subprocess.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/scratch.h"

namespace dsx {
namespace fs = std::filesystem;

namespace {
using test::TempDir;
const auto error_of = test::error_message;
}  // namespace

BOOST_AUTO_TEST_SUITE(hdf5)

BOOST_AUTO_TEST_CASE(round_trips) {
  TempDir dir;
  std::string path = dir.file("a.h5");
  at::Tensor d = at::randn({2, 3, 4}, at::kDouble), f = at::randn({5}, at::kFloat);
  at::Tensor i = at::arange(7, at::kLong);
  {
    h5::File file = h5::File::create(path);
    h5::write_tensor(file, "group/doubles", d, true);
    h5::write_tensor(file, "floats", f);
    h5::write_tensor(file, "ints", i);
    h5::write_tensor(file, "empty", at::empty({0, 3}, at::kDouble));
    file.set_attr("nfe", int64_t(12));
    file.set_attr("rmse", 0.125);
    file.set_attr("config", std::string("model:\n  kind: x\n"));
    file.set_attr("unit", std::string("sigma"), "floats");
  }
  h5::File file = h5::File::open(path);
  BOOST_TEST(at::equal(h5::read_tensor(file, "group/doubles"), d));
  BOOST_TEST((file.info("floats").dtype == h5::DType::Float32));
  BOOST_TEST(at::equal(h5::read_tensor(file, "floats", at::kFloat), f));
  BOOST_TEST(at::equal(h5::read_tensor(file, "ints", at::kLong), i));
  BOOST_TEST(h5::read_tensor(file, "empty").size(0) == 0);
  BOOST_TEST(file.attr_int("nfe") == 12);
  BOOST_TEST(file.attr_double("rmse") == 0.125);
  BOOST_TEST(file.attr_string("config") == "model:\n  kind: x\n");
  BOOST_TEST(file.attr_string("unit", "floats") == "sigma");
  BOOST_TEST(!file.has_attr("missing"));
}

BOOST_AUTO_TEST_CASE(errors_name_file_and_object) {
  TempDir dir;
  std::string path = dir.file("b.h5");
  { h5::File::create(path); }
  h5::File file = h5::File::open(path);
  std::string e = error_of([&] { h5::read_tensor(file, "means"); });
  BOOST_TEST(e.find(path) != std::string::npos);
  BOOST_TEST(e.find("dataset 'means' not found") != std::string::npos);
  BOOST_TEST(error_of([&] { file.attr_int("nfe"); }).find("attribute 'nfe' not found") != std::string::npos);
  BOOST_TEST(error_of([&] { h5::File::open(dir.file("nope.h5")); }).find("does not exist") != std::string::npos);
  std::ofstream(dir.file("text.h5")) << "not an HDF5 file";
  e = error_of([&] { h5::File::open(dir.file("text.h5")); });
  BOOST_TEST(e.find("cannot open") != std::string::npos);
  BOOST_TEST(e.find("HDF5 error stack") != std::string::npos);  // HDF5's own reason travels with the error
}

BOOST_AUTO_TEST_CASE(atomic_path_never_exposes_partial_files) {
  TempDir dir;
  std::string path = dir.file("out.h5");
  {
    std::ofstream(path) << "previous result";
    h5::AtomicPath target(path);
    h5::File f = h5::File::create(target.temp());
    h5::write_tensor(f, "x", at::ones({3}));
    // no commit: an error happened
  }
  BOOST_TEST(fs::file_size(path) == std::string("previous result").size());
  BOOST_TEST(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);  // temp removed
  {
    h5::AtomicPath target(path);
    {
      h5::File f = h5::File::create(target.temp());
      h5::write_tensor(f, "x", at::ones({3}));
    }
    target.commit();
  }
  BOOST_TEST(h5::read_tensor(h5::File::open(path), "x").sum().item<double>() == 3.0);
}

// A child process started while a writer holds an HDF5 file must not inherit the file: HDF5 keeps an flock on
// each open file, and an inherited descriptor keeps it after the writer's close, for as long as the child
// runs — a reader of the finished file then fails with "unable to lock the file" (seen in CI: one stage's
// gnuplot vs another stage's read of a cached reference solution). std::system is the control.
BOOST_AUTO_TEST_CASE(children_do_not_inherit_a_writers_lock) {
  TempDir dir;
  const std::string pid_file = dir.file("pid");
  // Writes `path` and, while it is open, starts a background sleep that outlives its shell.
  auto write_while_starting_a_child = [&](const std::string& path, const std::function<void(std::string)>& start) {
    h5::File f = h5::File::create(path);
    h5::write_tensor(f, "x", at::arange(3, at::kDouble));
    start("sleep 60 & echo $! > " + pid_file);
    f.close();
  };
  auto stop_child = [&] { ::kill(pid_t(std::stoll(test::slurp(pid_file))), SIGKILL); };

  const char* locking = std::getenv("HDF5_USE_FILE_LOCKING");
  if (!locking || std::string(locking) != "FALSE") {
    write_while_starting_a_child(dir.file("system.h5"),
                                 [](const std::string& c) { BOOST_TEST(std::system(c.c_str()) == 0); });
    const std::string e = error_of([&] { h5::File::open(dir.file("system.h5")); });
    stop_child();
    BOOST_TEST(e.find("unable to lock") != std::string::npos, "the control did not reproduce the inherited lock: " + e);
  }
  write_while_starting_a_child(dir.file("spawn.h5"), [](const std::string& c) { BOOST_TEST(run_shell(c) == 0); });
  const std::string e =
      error_of([&] { BOOST_TEST(h5::read_tensor(h5::File::open(dir.file("spawn.h5")), "x").size(0) == 3); });
  stop_child();
  BOOST_TEST(e.empty(), e);
}

BOOST_AUTO_TEST_CASE(run_shell_reports_status_and_output) {
  BOOST_TEST(run_shell("exit 3") == 3);
  BOOST_TEST(run_shell("kill -9 $$") == 128 + 9);
  int status = -1;
  BOOST_TEST(run_shell_capture("printf 'a\\nb'; echo ' c' >&2", &status) == "a\nb");
  BOOST_TEST(status == 0);
  // Only stdin, stdout and stderr reach the child: ls lists those and the folder it reads, which got 3.
  BOOST_TEST(run_shell_capture("exec ls /proc/self/fd", &status) == "0\n1\n2\n3\n");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
