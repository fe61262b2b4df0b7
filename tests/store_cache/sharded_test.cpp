// store/sharded.h on plain text shards (no torch): recording, re-recording refused, claims, repair by scan
// (adopt, drop corrupt, remove stale temporaries) and concurrent writers that never lose each other's shards.
#include <atomic>
#include <thread>

#include "common.h"
#include "core/error.h"
#include "store/sharded.h"

namespace dsx::test {
using cache::json;

namespace {

// A shard file is "items: 3 4 5": adopt() reads the items back and refuses anything else.
std::vector<int64_t> adopt_text(const std::string& path) {
  std::ifstream in(path);
  std::string tag;
  if (!(in >> tag) || tag != "items:") fail("not a shard");
  std::vector<int64_t> items;
  for (int64_t v; in >> v;) items.push_back(v);
  return items;
}

struct Store {
  TempDir dir;
  cache::Cache cache{dir.file("cache")};
  cache::CacheKey key = cache::CacheKey::of("teacher", 1, json{{"p", 1}}, {}, "m0", "float32/cpu");
  cache::ShardedArtifact art{cache, key, "seeds", adopt_text, [](const std::vector<cache::Shard>& s) {
                               return json{{"num_shards", s.size()}};
                             }};

  std::string name_of(int64_t first) const { return "shard-" + std::to_string(first) + ".txt"; }
  // Writes a shard's file under a temp name and records it through add(); false when already recorded.
  bool add(int64_t first, int64_t count) const {
    std::vector<int64_t> items;
    for (int64_t i = 0; i < count; ++i) items.push_back(first + i);
    fs::create_directories(art.dir());
    const std::string tmp = art.path(name_of(first)) + ".tmp." + std::to_string(::getpid()) + "." +
                            std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
    {
      std::ofstream out(tmp);
      out << "items:";
      for (int64_t v : items) out << ' ' << v;
    }
    const bool added = art.add({name_of(first), items, {}}, [&] { fs::rename(tmp, art.path(name_of(first))); });
    if (!added) fs::remove(tmp);
    return added;
  }
};

std::vector<int64_t> range(int64_t first, int64_t last) {
  std::vector<int64_t> v;
  for (int64_t i = first; i <= last; ++i) v.push_back(i);
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sharded_artifact)

BOOST_AUTO_TEST_CASE(added_shards_are_recorded_with_checksums_and_entry_facts) {
  Store s;
  BOOST_TEST(s.art.recorded().empty());
  BOOST_TEST(s.add(0, 4));
  BOOST_TEST(s.add(4, 3));
  BOOST_TEST(!s.add(0, 4));  // the same name again: nothing moved, nothing recorded twice
  std::vector<cache::Shard> rec = s.art.recorded();
  BOOST_REQUIRE_EQUAL(rec.size(), 2u);
  BOOST_TEST(rec[1].items == range(4, 6));
  BOOST_TEST(rec[0].file["xxh3"].get<std::string>() == cache::file_checksum(s.art.path(rec[0].name)));
  std::optional<json> meta = s.cache.lookup(s.key);  // a complete entry that the whole-artifact lookup accepts
  BOOST_REQUIRE(meta.has_value());
  BOOST_TEST((*meta)["num_shards"].get<int>() == 2);
  BOOST_TEST((*meta)["shards"][1]["seeds_runs"].dump() == "[[4,6]]");
  BOOST_TEST(cache::missing_items({9, 1, 5, 9, 8, 7}, rec) == (std::vector<int64_t>{9, 8, 7}));  // order kept, deduped
}

// meta.json records each shard's items as runs, so its size does not grow with the seeds (it is re-read and
// rewritten at every commit); any order round-trips, and entries written with plain lists still read.
BOOST_AUTO_TEST_CASE(items_are_recorded_as_runs_and_old_lists_still_read) {
  Store s;
  const std::vector<int64_t> items = {7, 8, 9, 3, 4, 100, 5, -2, -1};
  fs::create_directories(s.art.dir());
  std::ofstream(s.art.path("odd.txt")) << "items: 7 8 9 3 4 100 5 -2 -1";
  BOOST_REQUIRE(s.art.add({"odd.txt", items, {}}, [] {}));
  BOOST_TEST(s.add(1000, 100000));  // 100 000 items, one run
  const std::vector<cache::Shard> rec = s.art.recorded();
  BOOST_REQUIRE_EQUAL(rec.size(), 2u);
  BOOST_TEST(rec[0].items == items, boost::test_tools::per_element());
  BOOST_TEST(rec[1].items == range(1000, 100999), boost::test_tools::per_element());
  const json meta = json::parse(slurp(fs::path(s.art.dir()) / "meta.json"));
  BOOST_TEST(meta["shards"][0]["seeds_runs"].dump() == "[[7,9],[3,4],[100,100],[5,5],[-2,-1]]");
  BOOST_TEST(!meta["shards"][1].contains("seeds"));
  BOOST_TEST(meta.dump().size() < 4000u);

  BOOST_TEST(cache::recorded_items(json{{"seeds", {5, 1, 2}}}, "seeds") == (std::vector<int64_t>{5, 1, 2}),
             boost::test_tools::per_element());
  const std::string e =
      error_message([] { cache::recorded_items(json::parse(R"({"seeds_runs": [[4, 2]]})"), "seeds"); });
  BOOST_TEST(e.find("seeds run [4,2] is not a range") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(a_claim_is_exclusive_until_released) {
  Store s;
  std::optional<cache::Lock> mine = s.art.try_claim("shard-0.txt");
  BOOST_REQUIRE(mine.has_value());
  BOOST_TEST(!s.art.try_claim("shard-0.txt").has_value());  // held: another writer skips it
  BOOST_TEST(s.art.try_claim("shard-1.txt").has_value());   // other shards are free
  BOOST_CHECK_THROW(s.art.claim("shard-0.txt", 0.05), Error);
  mine.reset();
  BOOST_TEST(s.art.try_claim("shard-0.txt").has_value());
}

BOOST_AUTO_TEST_CASE(scan_adopts_unrecorded_shards_and_drops_corrupt_and_stale_files) {
  Store s;
  BOOST_TEST(s.add(0, 4));
  BOOST_TEST(s.add(4, 4));
  std::ofstream(s.art.path("shard-8.txt")) << "items: 8 9";          // moved into place, writer killed before recording
  std::ofstream(s.art.path("junk.txt")) << "half a shard";           // refused by adopt(): removed
  std::ofstream(s.art.path("shard-10.txt.tmp.999999999.0")) << "x";  // a dead process's temporary
  const std::string live_tmp = s.art.path("shard-12.txt.tmp." + std::to_string(::getpid()) + ".0");
  std::ofstream(live_tmp) << "x";           // a live writer's: kept
  flip_byte(s.art.path("shard-4.txt"), 3);  // recorded but corrupt: dropped

  // A dry run sees what the scan will keep (the unrecorded shard too), changing nothing.
  BOOST_TEST(cache::missing_items(range(0, 11), s.art.verified()) == (std::vector<int64_t>{4, 5, 6, 7, 10, 11}));
  BOOST_TEST(fs::exists(s.art.path("junk.txt")));
  BOOST_TEST(s.art.recorded().size() == 2u);

  std::vector<std::string> warnings;
  std::vector<cache::Shard> shards = s.art.scan(&warnings);
  BOOST_TEST(cache::missing_items(range(0, 11), shards) == (std::vector<int64_t>{4, 5, 6, 7, 10, 11}));
  BOOST_TEST(warnings.size() == 3u);
  BOOST_TEST(!fs::exists(s.art.path("shard-4.txt")));
  BOOST_TEST(!fs::exists(s.art.path("junk.txt")));
  BOOST_TEST(!fs::exists(s.art.path("shard-10.txt.tmp.999999999.0")));
  BOOST_TEST(fs::exists(live_tmp));
  // The repair is recorded: the next scan finds nothing to say, and the adopted shard is listed.
  BOOST_TEST(s.art.recorded().size() == 2u);
  warnings.clear();
  BOOST_TEST(s.art.scan(&warnings).size() == 2u);
  BOOST_TEST(warnings.size() == 0u);
}

BOOST_AUTO_TEST_CASE(concurrent_writers_never_lose_a_recorded_shard, *boost::unit_test::timeout(60)) {
  // Every add() re-reads meta.json under the commit lock: with 4 threads × 25 shards, a lost update would
  // drop a shard from the listing.
  Store s;
  std::vector<std::thread> threads;
  std::atomic<int> added{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) added += s.add(int64_t(100 * t + 4 * i), 4) ? 1 : 0;
    });
  for (auto& th : threads) th.join();
  BOOST_TEST(added.load() == 100);
  std::vector<cache::Shard> rec = s.art.recorded();
  BOOST_TEST(rec.size() == 100u);
  std::vector<int64_t> want;
  for (int t = 0; t < 4; ++t)
    for (int64_t i = 0; i < 100; ++i) want.push_back(100 * t + i);
  BOOST_TEST(cache::missing_items(want, rec).empty());
  BOOST_TEST(s.cache.verify().empty());
}

BOOST_AUTO_TEST_CASE(reset_waits_for_holders_then_empties_the_entry, *boost::unit_test::timeout(30)) {
  Store s;
  BOOST_TEST(s.add(0, 4));
  {
    cache::Lock reader = s.art.hold();
    BOOST_CHECK_THROW(s.art.reset(0.05), Error);  // a holder (reader or writer) keeps the entry alive
    BOOST_TEST(s.art.recorded().size() == 1u);
  }
  {
    cache::Lock alone = s.art.reset(1);
    BOOST_TEST(s.art.recorded().empty());
    BOOST_TEST(!fs::exists(s.art.dir()));
    BOOST_CHECK_THROW(s.art.hold(0.05), Error);  // the refill after a reset is not shared
  }
  BOOST_TEST(s.add(4, 4));
  flip_byte(s.art.path("shard-4.txt"), 2);
  BOOST_TEST(s.art.verified().empty());               // a dry run sees the corruption ...
  BOOST_TEST(fs::exists(s.art.path("shard-4.txt")));  // ... and changes nothing
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
