// The cache across processes, through the real dsx binary: SIGKILL during generation loses only the
// batches in flight, two concurrent runs compute each shard once, `dsx cache verify` reports a corrupt
// file and `dsx cache gc` frees it. Every case is time-boxed.
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <regex>
#include <thread>

#include "common.h"
#include "models/gaussian_mixture.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx::test {

namespace {

// A mixture with many components makes each batch take ~0.3 s, slow enough to kill mid-run.
std::string slow_config(const TempDir& dir, const std::string& seeds) {
  if (!fs::exists(dir.file("gmm.h5"))) GaussianMixture::random(4096, {3, 8, 8}, 11)->save_h5(dir.file("gmm.h5"));
  std::ofstream(dir.file("teacher.yaml")) << "model: {kind: gaussian_mixture, file: gmm.h5}\n"
                                             "schedule: {kind: time_uniform, num_steps: 4, rho: 1}\n"
                                             "teacher: {solver: {name: heun}, m: 1}\n"
                                             "seeds: "
                                          << seeds << "\nbatch: 50\nprecision: float32\noutput: unused.h5\n";
  return dir.file("teacher.yaml");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int64_t computed_in(const std::string& out) {
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(out, m, std::regex("(\\d+) computed")));
  return std::stoll(m[1]);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cache_processes)

BOOST_AUTO_TEST_CASE(sigkill_during_generation_then_resume_equals_uninterrupted, *boost::unit_test::timeout(120)) {
  TempDir dir;
  const std::string config = slow_config(dir, "0-999");  // 20 shards
  const std::string killed = dir.file("killed"), clean = dir.file("clean");
  pid_t pid = spawn_dsx({"teacher", config, "--cache-dir", killed}, dir.file("killed.log"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (files_matching(killed, "shard-").empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  const size_t survived = files_matching(killed, "shard-").size();
  BOOST_TEST_MESSAGE("shards on disk at SIGKILL: " << survived);
  BOOST_REQUIRE(survived >= 1);
  BOOST_REQUIRE(survived < 20);  // really killed mid-run

  Run resumed = run_dsx("teacher " + config + " --cache-dir " + killed + " --export " + dir.file("resumed.h5"));
  BOOST_TEST_CONTEXT(resumed.out) {
    BOOST_REQUIRE_EQUAL(resumed.code, 0);
    BOOST_TEST(resumed.out.find("EXTEND") != std::string::npos);
    BOOST_TEST(computed_in(resumed.out) <= int64_t(1000 - 50 * survived));
  }
  Run full = run_dsx("teacher " + config + " --cache-dir " + clean + " --export " + dir.file("full.h5"));
  BOOST_REQUIRE_EQUAL(full.code, 0);
  h5::File a = h5::File::open(dir.file("resumed.h5")), b = h5::File::open(dir.file("full.h5"));
  BOOST_TEST(at::equal(h5::read_tensor(a, "states", at::kFloat), h5::read_tensor(b, "states", at::kFloat)));
  BOOST_TEST(at::equal(h5::read_tensor(a, "features", at::kFloat), h5::read_tensor(b, "features", at::kFloat)));
  BOOST_TEST(at::equal(h5::read_tensor(a, "seeds", at::kLong), h5::read_tensor(b, "seeds", at::kLong)));
  BOOST_TEST(files_matching(killed, "shard-").size() == 20u);
  Run verify = run_dsx("cache verify --cache-dir " + killed);
  BOOST_TEST(verify.code == 0, verify.out);
}

BOOST_AUTO_TEST_CASE(two_concurrent_processes_split_the_shards_and_compute_each_once, *boost::unit_test::timeout(120)) {
  TempDir dir;
  const std::string config = slow_config(dir, "0-999");  // 20 shards of ~0.3 s: both processes are alive together
  const std::string cache = dir.file("cache");
  pid_t p1 = spawn_dsx({"teacher", config, "--cache-dir", cache}, dir.file("1.log"));
  pid_t p2 = spawn_dsx({"teacher", config, "--cache-dir", cache}, dir.file("2.log"));
  int c1 = wait_exit(p1), c2 = wait_exit(p2);
  const std::string o1 = slurp(dir.file("1.log")), o2 = slurp(dir.file("2.log"));
  BOOST_TEST_CONTEXT(o1 << "\n----\n" << o2) {
    BOOST_REQUIRE_EQUAL(c1, 0);
    BOOST_REQUIRE_EQUAL(c2, 0);
    BOOST_TEST(computed_in(o1) + computed_in(o2) == 1000);  // every seed computed by exactly one process
    BOOST_TEST(computed_in(o1) > 0);                        // and the work was shared, not queued behind a lock
    BOOST_TEST(computed_in(o2) > 0);
  }
  BOOST_TEST(files_matching(cache, "shard-").size() == 20u);
  Run full = run_dsx("teacher " + config + " --cache-dir " + cache + " --export " + dir.file("shared.h5"));
  BOOST_TEST(full.out.find("HIT") != std::string::npos, full.out);
  Run alone = run_dsx("teacher " + config + " --cache-dir " + dir.file("alone") + " --export " + dir.file("alone.h5"));
  BOOST_REQUIRE_EQUAL(alone.code, 0);
  h5::File a = h5::File::open(dir.file("shared.h5")), b = h5::File::open(dir.file("alone.h5"));
  BOOST_TEST(at::equal(h5::read_tensor(a, "states", at::kFloat), h5::read_tensor(b, "states", at::kFloat)));
  BOOST_TEST(run_dsx("cache verify --cache-dir " + cache).code == 0);
}

BOOST_AUTO_TEST_CASE(cli_verify_reports_corruption_and_gc_frees_it, *boost::unit_test::timeout(120)) {
  TempDir dir;
  const std::string config = slow_config(dir, "0-99");
  const std::string cache = dir.file("cache");
  Run r = run_dsx("teacher " + config + " --cache-dir " + cache + " --dry-run");
  BOOST_TEST(r.out.find("RUN teacher") != std::string::npos, r.out);
  BOOST_REQUIRE_EQUAL(run_dsx("teacher " + config + " --cache-dir " + cache).code, 0);
  r = run_dsx("teacher " + config + " --cache-dir " + cache + " --dry-run");
  BOOST_TEST(r.out.find("HIT teacher") != std::string::npos, r.out);
  Run ls = run_dsx("cache ls --cache-dir " + cache);
  BOOST_TEST(ls.out.find("100 samples") != std::string::npos, ls.out);
  BOOST_TEST(run_dsx("cache verify --cache-dir " + cache).code == 0);
  auto shards = files_matching(cache, "shard-");
  BOOST_REQUIRE_EQUAL(shards.size(), 2u);
  flip_byte(shards[0], 4000);
  Run v = run_dsx("cache verify --cache-dir " + cache);
  BOOST_TEST(v.code == 1, v.out);
  BOOST_TEST(v.out.find("BAD teacher") != std::string::npos, v.out);
  BOOST_TEST(v.out.find(shards[0].filename().string()) != std::string::npos, v.out);
  Run key = run_dsx("cache info --cache-dir " + cache + " " + shards[0].parent_path().filename().string().substr(0, 6));
  BOOST_TEST(key.out.find("\"canonical\"") != std::string::npos, key.out);
  Run gc = run_dsx("cache gc --cache-dir " + cache);
  BOOST_TEST(gc.code == 0);
  BOOST_TEST(gc.out.find("freed") != std::string::npos, gc.out);
  BOOST_TEST(files_matching(cache, "shard-").empty());
  BOOST_TEST(run_dsx("cache verify --cache-dir " + cache).code == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
