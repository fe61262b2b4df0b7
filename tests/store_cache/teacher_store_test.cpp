// amed/teacher_store.h in process on the §12.1 toy: extension by seed range equals one run, corrupt and
// half-written shards are recomputed, crash leftovers are adopted, parallel workers change nothing, and
// training from the shards equals training from the exported single file.
#include <torch/utils.h>

#include "amed/teacher_store.h"
#include "common.h"
#include "core/error.h"
#include "store/tensor_h5.h"
#include "support/testbeds.h"

namespace dsx::test {

namespace {

std::vector<int64_t> seed_range(int64_t first, int64_t count) {
  std::vector<int64_t> s(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) s[size_t(i)] = first + i;
  return s;
}

TeacherSpec toy_spec(int64_t n, int64_t batch) {
  TeacherSpec t;
  t.solver = "heun";
  t.m = 1;
  t.student_schedule.kind = "time_uniform";
  t.student_schedule.num_steps = 4;
  t.student_schedule.rho = 1;
  t.seeds = seed_range(0, n);
  t.batch = batch;
  return t;
}

TeacherShards shards_of(const cache::Cache& c, const TeacherSpec& spec, const Denoiser& model) {
  return TeacherShards(c, teacher_key(spec, model.info(), at::kCPU), spec.seeds);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(teacher_store)

BOOST_AUTO_TEST_CASE(key_ignores_seeds_batch_workers_but_not_the_teacher) {
  Toy192 toy = toy192();
  TeacherSpec a = toy_spec(40, 20), b = toy_spec(100, 25);
  b.workers = 2;
  BOOST_TEST(teacher_key(a, toy.model->info(), at::kCPU).hex == teacher_key(b, toy.model->info(), at::kCPU).hex);
  b.solver_options["afs"] = {"false", "test"};  // a default spelt out: same resolved options, same key
  BOOST_TEST(teacher_key(a, toy.model->info(), at::kCPU).hex == teacher_key(b, toy.model->info(), at::kCPU).hex);
  b.m = 2;
  BOOST_TEST(teacher_key(a, toy.model->info(), at::kCPU).hex != teacher_key(b, toy.model->info(), at::kCPU).hex);
  b = toy_spec(40, 20);
  b.dtype = at::kDouble;
  BOOST_TEST(teacher_key(a, toy.model->info(), at::kCPU).hex != teacher_key(b, toy.model->info(), at::kCPU).hex);
  b = toy_spec(40, 20);
  b.student_schedule.num_steps = 5;
  auto ka = teacher_key(a, toy.model->info(), at::kCPU), kb = teacher_key(b, toy.model->info(), at::kCPU);
  BOOST_TEST(ka.hex != kb.hex);
  auto diff = cache::diff_params(ka.params, kb.params);
  BOOST_REQUIRE_EQUAL(diff.size(), 1u);
  BOOST_TEST(diff[0] == "schedule.num_steps 4→5");
}

BOOST_AUTO_TEST_CASE(extension_by_seed_range_equals_one_run) {
  TempDir dir;
  Toy192 toy = toy192();
  cache::Cache grown(dir.file("grown")), once(dir.file("once"));
  TeacherStoreReport r1 = ensure_teacher(grown, toy_spec(40, 20), toy.model, at::kCPU);
  BOOST_TEST(r1.status == cache::JobState::Run);
  BOOST_TEST(r1.computed == 40);
  TeacherStoreReport r2 = ensure_teacher(grown, toy_spec(100, 20), toy.model, at::kCPU);
  BOOST_TEST(r2.status == cache::JobState::Extend);
  BOOST_TEST(r2.cached == 40);
  BOOST_TEST(r2.computed == 60);  // only the missing seeds
  BOOST_TEST(r2.nfe_per_sample == 12);
  TeacherStoreReport r3 = ensure_teacher(grown, toy_spec(100, 20), toy.model, at::kCPU);
  BOOST_TEST(r3.status == cache::JobState::Hit);
  BOOST_TEST(r3.computed == 0);
  BOOST_TEST(probe_teacher(grown, toy_spec(120, 20), toy.model->info(), at::kCPU).status == cache::JobState::Extend);

  ensure_teacher(once, toy_spec(100, 30), toy.model, at::kCPU);  // other batching, other shard cuts
  TeacherShards a = shards_of(grown, toy_spec(100, 20), *toy.model), b = shards_of(once, toy_spec(100, 30), *toy.model);
  BOOST_TEST(a.size() == 100);
  BOOST_TEST(at::equal(a.states(0, 100, at::kFloat), b.states(0, 100, at::kFloat)));
  BOOST_TEST(at::equal(a.features(0, 100, at::kFloat), b.features(0, 100, at::kFloat)));
  // Rows served across shard boundaries and in request order equal the single-file generator's.
  generate_teacher(toy_spec(100, 100), toy.model, at::kCPU, dir.file("single.h5"));
  h5::File single = h5::File::open(dir.file("single.h5"));
  BOOST_TEST(at::equal(a.states(15, 50, at::kFloat), h5::read_rows(single, "states", 15, 50)));
  std::vector<int64_t> order = {57, 3, 4, 99, 0};
  TeacherShards picked(grown, teacher_key(toy_spec(1, 1), toy.model->info(), at::kCPU), order);
  at::Tensor all = h5::read_tensor(single, "states", at::kFloat);
  BOOST_TEST(at::equal(picked.states(0, 5, at::kFloat), all.index_select(0, at::tensor(order, at::kLong))));
  BOOST_CHECK_THROW(TeacherShards(grown, teacher_key(toy_spec(1, 1), toy.model->info(), at::kCPU), {100}), Error);
  // The exported single file is what generate_teacher writes.
  export_teacher(a, TeacherPlan(toy_spec(100, 20), toy.model, at::kCPU), dir.file("export.h5"), 33);
  h5::File ex = h5::File::open(dir.file("export.h5"));
  BOOST_TEST(at::equal(h5::read_tensor(ex, "states", at::kFloat), all));
  BOOST_TEST(at::equal(h5::read_tensor(ex, "features", at::kFloat), h5::read_tensor(single, "features", at::kFloat)));
  BOOST_TEST(at::equal(h5::read_tensor(ex, "seeds", at::kLong), h5::read_tensor(single, "seeds", at::kLong)));
  BOOST_TEST(ex.attr_int("complete") == 1);
  BOOST_TEST(ex.attr_int("num_samples") == 100);
}

BOOST_AUTO_TEST_CASE(corrupt_shard_is_recomputed_and_half_written_ones_never_used) {
  TempDir dir;
  Toy192 toy = toy192();
  cache::Cache c(dir.file("cache"));
  const TeacherSpec spec = toy_spec(60, 20);
  ensure_teacher(c, spec, toy.model, at::kCPU);
  at::Tensor before = shards_of(c, spec, *toy.model).states(0, 60, at::kFloat);
  auto shards = files_matching(c.dir(teacher_key(spec, toy.model->info(), at::kCPU)), "shard-");
  BOOST_REQUIRE_EQUAL(shards.size(), 3u);
  flip_byte(shards[1], std::streamoff(fs::file_size(shards[1]) / 2));
  TeacherStoreReport r = ensure_teacher(c, spec, toy.model, at::kCPU);
  BOOST_TEST(r.status == cache::JobState::Extend);
  BOOST_TEST(r.computed == 20);  // just the corrupt shard
  BOOST_REQUIRE(!r.warnings.empty());
  BOOST_TEST(r.warnings[0].find("corrupt") != std::string::npos);
  BOOST_TEST(at::equal(shards_of(c, spec, *toy.model).states(0, 60, at::kFloat), before));

  // What a crash leaves: meta.json gone, a shard renamed into place (adopted), a shard file without its
  // `complete` flag and a temp file (both removed, never read).
  const fs::path entry = c.dir(teacher_key(spec, toy.model->info(), at::kCPU));
  fs::remove(entry / "meta.json");
  {
    h5::File bad = h5::File::create((entry / "shard-999-1-deadbeef.h5").string());
    h5::write_tensor(bad, "seeds", at::tensor(std::vector<int64_t>{999}, at::kLong));
  }
  std::ofstream(entry / ("shard-1000-1-0.h5.tmp." + std::to_string(::getpid() + 1) + ".0")) << "partial";
  r = ensure_teacher(c, spec, toy.model, at::kCPU);
  BOOST_TEST(r.status == cache::JobState::Hit);
  BOOST_TEST(r.computed == 0);
  BOOST_TEST(r.warnings.size() == 4u);  // 3 adopted + 1 unusable
  BOOST_TEST(!fs::exists(entry / "shard-999-1-deadbeef.h5"));
  BOOST_TEST(files_matching(entry, "shard-").size() == 3u);
  BOOST_TEST(fs::exists(entry / "meta.json"));
  BOOST_TEST(at::equal(shards_of(c, spec, *toy.model).states(0, 60, at::kFloat), before));
}

BOOST_AUTO_TEST_CASE(parallel_workers_give_the_same_shards) {
  TempDir dir;
  Toy192 toy = toy192();
  cache::Cache serial(dir.file("serial")), parallel(dir.file("parallel"));
  TeacherSpec spec = toy_spec(90, 10);
  ensure_teacher(serial, spec, toy.model, at::kCPU);
  spec.workers = 3;
  const int threads = at::get_num_threads();
  TeacherStoreReport r = ensure_teacher(parallel, spec, toy.model, at::kCPU);
  BOOST_TEST(at::get_num_threads() == threads);  // restored
  BOOST_TEST(r.shards_written == 9);
  BOOST_TEST(at::equal(shards_of(serial, spec, *toy.model).states(0, 90, at::kFloat),
                       shards_of(parallel, spec, *toy.model).states(0, 90, at::kFloat)));
  BOOST_TEST(at::equal(shards_of(serial, spec, *toy.model).features(0, 90, at::kFloat),
                       shards_of(parallel, spec, *toy.model).features(0, 90, at::kFloat)));
}

BOOST_AUTO_TEST_CASE(training_from_shards_equals_training_from_the_file) {
  TempDir dir;
  Toy192 toy = toy192();
  cache::Cache c(dir.file("cache"));
  const TeacherSpec spec = toy_spec(100, 30);
  ensure_teacher(c, spec, toy.model, at::kCPU);
  TeacherShards shards = shards_of(c, spec, *toy.model);
  export_teacher(shards, TeacherPlan(spec, toy.model, at::kCPU), dir.file("t.h5"));
  TrainSpec ts;
  ts.batch = 40;
  auto train = [&](auto&& source) {
    torch::manual_seed(0);
    AmedPredictor net(0.01, 0.0);
    std::vector<double> losses;
    train_amed(ts, toy.model, at::kCPU, source, net, [&](const TrainStepLog& l) { losses.push_back(l.loss); });
    return losses;
  };
  std::vector<double> from_shards = train(shards), from_file = train(dir.file("t.h5"));
  BOOST_TEST(from_shards.size() == 9u);  // 3 batches × 3 intervals
  BOOST_TEST(from_shards == from_file, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
