// The train_model stage as a user runs it: `dsx run` killed (SIGKILL) after its first checkpoint resumes
// from it and commits the model an uninterrupted run commits — every parameter bitwise equal — and a spec
// without a model refuses stages that need one.
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <chrono>
#include <thread>

#include "nets/unet_model.h"
#include "support/scratch.h"

namespace dsx::test {
namespace {

namespace fs = std::filesystem;

const char* kSpec = R"(name: tiny_unet
stages:
  unet:
    kind: train_model
    dataset: {kind: fashion_mnist, split: train, limit: 256}
    net: {base_channels: 16, channel_mult: [1, 1, 1], blocks: 1, attention_at: [8]}
    steps: 60
    batch: 8
    warmup_steps: 5
    ema_halflife_kimg: 0.1
    checkpoint_every: 10
    export: tiny.h5
)";

std::string write_spec(const TempDir& dir) {
  const std::string path = dir.file("tiny.yaml");
  std::ofstream(path) << kSpec;
  return path;
}

bool any_checkpoint(const fs::path& cache) {
  const fs::path root = cache / "checkpoints";
  if (!fs::exists(root)) return false;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::exists(e.path() / "ckpt" / "state.json")) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(train_model_stage)

BOOST_AUTO_TEST_CASE(a_killed_training_resumes_to_the_uninterrupted_result) {
  TempDir straight, killed;
  const std::string spec_a = write_spec(straight), spec_b = write_spec(killed);
  BOOST_REQUIRE_EQUAL(
      wait_exit(spawn_dsx({"run", spec_a, "--cache-dir", straight.file("cache"), "--runs-dir", straight.file("runs")},
                          straight.file("log"))),
      0);

  const pid_t pid = spawn_dsx({"run", spec_b, "--cache-dir", killed.file("cache"), "--runs-dir", killed.file("runs")},
                              killed.file("log1"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!any_checkpoint(killed.file("cache")) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  BOOST_TEST(wait_exit(pid) == -1);  // killed, not finished: the test below then really resumes
  BOOST_REQUIRE(!fs::exists(killed.file("tiny.h5")));

  BOOST_REQUIRE_EQUAL(
      wait_exit(spawn_dsx({"run", spec_b, "--cache-dir", killed.file("cache"), "--runs-dir", killed.file("runs")},
                          killed.file("log2"))),
      0);
  std::ifstream log(killed.file("log2"));
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  BOOST_TEST(text.find("train_model: resumed at step") != std::string::npos, text);

  LoadedUNet a = load_unet(straight.file("tiny.h5")), b = load_unet(killed.file("tiny.h5"));
  auto pb = b.net->named_parameters();
  for (const auto& p : a.net->named_parameters()) BOOST_TEST(at::equal(p.value(), pb[p.key()]), p.key());
  BOOST_TEST(a.training["steps"] == 60);
  BOOST_TEST(!any_checkpoint(killed.file("cache")));  // removed once the model is committed
}

BOOST_AUTO_TEST_CASE(a_spec_without_a_model_refuses_stages_that_need_one) {
  TempDir dir;
  const std::string spec = dir.file("s.yaml");
  std::ofstream(spec) << "name: x\nstages:\n  t:\n    kind: teacher\n    schedule: {kind: polynomial, num_steps: 4}\n"
                         "    solver: {name: heun}\n    seeds: 0-3\n";
  const Run r = run_dsx("run " + spec + " --dry-run --cache-dir " + dir.file("cache"));
  BOOST_TEST(r.code != 0);
  BOOST_TEST(r.out.find("s.yaml:4:11: stage 't' (teacher) needs the spec's model") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
