// store/cache.h: key stability and sensitivity, meta written last, incomplete and corrupt entries never
// used, verify, gc, the per-key lock and the cache-root resolution.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "common.h"
#include "core/error.h"
#include "store/cache.h"

namespace dsx::test {
using cache::json;

namespace {

cache::CacheKey key_of(const json& params, int version = 1, const std::string& model = "m0",
                       const std::string& dtype = "float32/cpu", std::vector<std::string> upstream = {}) {
  return cache::CacheKey::of("teacher", version, params, upstream, model, dtype);
}

// A one-file artifact: data.bin + meta.json.
cache::CacheKey make_entry(const cache::Cache& c, const json& params, const std::string& content) {
  cache::CacheKey k = key_of(params);
  fs::create_directories(c.dir(k));
  std::ofstream(fs::path(c.dir(k)) / "data.bin", std::ios::binary) << content;
  c.commit(k, {"data.bin"});
  return k;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cache_key)

BOOST_AUTO_TEST_CASE(stable_and_order_independent) {
  json a = json::parse(R"({"solver": {"name": "heun", "max_order": 2}, "m": 1, "rho": 7.0})");
  json b = json::parse(R"({"rho": 7.0, "m": 1, "solver": {"max_order": 2, "name": "heun"}})");
  BOOST_TEST(key_of(a).hex == key_of(b).hex);
  BOOST_TEST(key_of(a).canonical == key_of(b).canonical);
  BOOST_TEST(key_of(a).hex.size() == 32u);
  // Pinned: a change here means every user's cache is silently invalidated; bump deliberately.
  BOOST_TEST(
      key_of(a).canonical ==
      R"({"dtype_device":"float32/cpu","kind":"teacher","model":"m0","params":{"m":1,"rho":7.0,"solver":{"max_order":2,"name":"heun"}},"upstream":[],"version":1})");
  // Doubles print as their shortest round-trip text: 0.1 is "0.1", not 0.10000000000000001.
  BOOST_TEST(cache::canonical_text(json{{"x", 0.1}}) == R"({"x":0.1})");
}

BOOST_AUTO_TEST_CASE(sensitive_to_everything_that_matters) {
  json p = {{"solver", {{"max_order", 2}}}, {"m", 1}};
  const std::string base = key_of(p).hex;
  json q = p;
  q["solver"]["max_order"] = 3;
  BOOST_TEST(key_of(q).hex != base);
  BOOST_TEST(key_of(p, 2).hex != base);                                // stage version
  BOOST_TEST(key_of(p, 1, "m1").hex != base);                          // model fingerprint
  BOOST_TEST(key_of(p, 1, "m0", "float64/cpu").hex != base);           // dtype/device class
  BOOST_TEST(key_of(p, 1, "m0", "float32/cpu", {"abc"}).hex != base);  // upstream
  BOOST_TEST(cache::CacheKey::of("evaluate", 1, p, {}, "m0", "float32/cpu").hex != base);
}

BOOST_AUTO_TEST_CASE(param_diff_names_the_change) {
  json a = {{"solver", {{"max_order", 2}, {"name", "ipndm"}}}, {"old", true}};
  json b = {{"solver", {{"max_order", 3}, {"name", "ipndm"}}}, {"new", 0.5}};
  std::vector<std::string> d = cache::diff_params(a, b);
  BOOST_REQUIRE_EQUAL(d.size(), 3u);
  BOOST_TEST(d[0] == "+new = 0.5");
  BOOST_TEST(d[1] == "-old (was true)");
  BOOST_TEST(d[2] == "solver.max_order 2→3");
  BOOST_TEST(cache::diff_params(a, a).empty());
}

BOOST_AUTO_TEST_CASE(root_resolution) {
  const char* saved = std::getenv("DSX_CACHE_DIR");
  std::string keep = saved ? saved : "";
  ::setenv("DSX_CACHE_DIR", "/env/dir", 1);
  BOOST_TEST(cache::resolve_root("/cli/dir") == "/cli/dir");
  BOOST_TEST(cache::resolve_root("") == "/env/dir");
  ::unsetenv("DSX_CACHE_DIR");
  BOOST_TEST(cache::resolve_root("") == ".cache/dsx");
  if (saved) ::setenv("DSX_CACHE_DIR", keep.c_str(), 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cache_entries)

BOOST_AUTO_TEST_CASE(meta_is_written_last_and_incomplete_entries_are_never_used) {
  TempDir dir;
  cache::Cache c(dir.file("cache"));
  cache::CacheKey k = key_of({{"a", 1}});
  std::string why;
  BOOST_TEST(!c.lookup(k, &why).has_value());
  BOOST_TEST(why.empty());  // absent, not broken
  // Files in place but no meta.json: what a killed writer leaves. Never used.
  fs::create_directories(c.dir(k));
  std::ofstream(fs::path(c.dir(k)) / "data.bin") << "payload";
  BOOST_TEST(!c.lookup(k, &why).has_value());
  BOOST_TEST(why.find("meta.json missing") != std::string::npos);
  json meta = c.commit(k, {"data.bin"}, {{"num_samples", 7}});
  BOOST_TEST(meta["complete"].get<bool>());
  BOOST_TEST(meta["canonical"].get<std::string>() == k.canonical);
  BOOST_TEST(meta["files"][0]["size"].get<int64_t>() == 7);
  BOOST_TEST(
      (fs::last_write_time(fs::path(c.dir(k)) / "meta.json") >= fs::last_write_time(fs::path(c.dir(k)) / "data.bin")));
  BOOST_TEST(files_matching(c.dir(k), "meta.json.tmp").empty());
  auto found = c.lookup(k, &why);
  BOOST_REQUIRE(found);
  BOOST_TEST((*found)["num_samples"].get<int>() == 7);
  // complete: false is refused too.
  json m = *found;
  m["complete"] = false;
  std::ofstream(fs::path(c.dir(k)) / "meta.json") << m.dump();
  BOOST_TEST(!c.lookup(k, &why).has_value());
  BOOST_TEST(why.find("incomplete") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(corrupt_file_detected_by_lookup_verify_and_gc) {
  TempDir dir;
  cache::Cache c(dir.file("cache"));
  cache::CacheKey good = make_entry(c, {{"a", 1}}, std::string(4096, 'x'));
  cache::CacheKey bad = make_entry(c, {{"a", 2}}, std::string(4096, 'y'));
  BOOST_TEST(c.verify().empty());
  flip_byte(fs::path(c.dir(bad)) / "data.bin", 100);
  std::string why;
  BOOST_TEST(!c.lookup(bad, &why).has_value());
  BOOST_TEST(why.find("checksum") != std::string::npos);
  BOOST_TEST(c.lookup(good).has_value());
  auto problems = c.verify();
  BOOST_REQUIRE_EQUAL(problems.size(), 1u);
  BOOST_TEST(problems[0].key == bad.hex);
  BOOST_TEST(c.info(bad.hex.substr(0, 8))->key == bad.hex);
  cache::GcReport r = c.gc();
  BOOST_TEST(r.bytes_freed >= 4096);
  BOOST_TEST(!fs::exists(c.dir(bad)));
  BOOST_TEST(fs::exists(c.dir(good)));
  BOOST_TEST(c.list().size() == 1u);
}

BOOST_AUTO_TEST_CASE(gc_removes_stale_temps_unheld_locks_and_with_all_everything_not_kept) {
  TempDir dir;
  cache::Cache c(dir.file("cache"));
  cache::CacheKey a = make_entry(c, {{"a", 1}}, "aaaa");
  cache::CacheKey b = make_entry(c, {{"a", 2}}, "bbbb");
  // A temp of a dead process (pid far above pid_max) and a lock file whose entry is gone.
  std::ofstream(fs::path(c.dir(a)) / "shard-0.h5.tmp.2147483646.0") << std::string(1000, 't');
  std::ofstream(fs::path(c.dir(a)) / ("live.h5.tmp." + std::to_string(::getpid()) + ".0")) << "mine";
  std::ofstream(dir.file("cache/teacher/0123.lock")) << "";
  cache::GcReport r = c.gc();
  BOOST_TEST(!fs::exists(fs::path(c.dir(a)) / "shard-0.h5.tmp.2147483646.0"));
  BOOST_TEST(fs::exists(fs::path(c.dir(a)) / ("live.h5.tmp." + std::to_string(::getpid()) + ".0")));  // live writer
  BOOST_TEST(!fs::exists(dir.file("cache/teacher/0123.lock")));
  BOOST_TEST(r.bytes_freed >= 1000);
  BOOST_TEST(c.list().size() == 2u);
  {
    // An entry whose lock is held (a process computing it) survives even gc --all.
    cache::Lock held = c.lock(b);
    c.gc(true, {});
    BOOST_TEST(!fs::exists(c.dir(a)));
    BOOST_TEST(fs::exists(c.dir(b)));
  }
  c.gc(true, {b.hex});
  BOOST_TEST(fs::exists(c.dir(b)));
  c.gc(true, {});
  BOOST_TEST(c.list().empty());
}

BOOST_AUTO_TEST_CASE(lock_blocks_then_times_out_or_proceeds, *boost::unit_test::timeout(30)) {
  TempDir dir;
  cache::Cache c(dir.file("cache"));
  cache::CacheKey k = key_of({{"a", 1}});
  auto first = std::make_unique<cache::Lock>(c.lock(k));
  BOOST_TEST(!cache::Lock::is_free(c.lock_path(k.kind, k.hex)));
  auto t0 = std::chrono::steady_clock::now();
  BOOST_CHECK_THROW(c.lock(k, 0.2), Error);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(190)));
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    first.reset();
  });
  t0 = std::chrono::steady_clock::now();
  cache::Lock second = c.lock(k, 10);  // waits for the holder, then proceeds
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(250)));
  release.join();
}

BOOST_AUTO_TEST_CASE(shared_locks_coexist_and_exclude_writers, *boost::unit_test::timeout(30)) {
  TempDir dir;
  cache::Cache c(dir.file("cache"));
  cache::CacheKey k = key_of({{"a", 2}});
  {
    cache::Lock r1 = c.lock(k, 0, cache::LockMode::Shared);
    cache::Lock r2 = c.lock(k, 0, cache::LockMode::Shared);  // readers do not wait for each other
    BOOST_CHECK_THROW(c.lock(k, 0.1), Error);                // a writer waits for every reader
    BOOST_TEST(!cache::Lock::is_free(c.lock_path(k.kind, k.hex)));
  }
  cache::Lock w = c.lock(k, 0);
  BOOST_CHECK_THROW(c.lock(k, 0.1, cache::LockMode::Shared), Error);  // and a reader for the writer
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
