// run_ordered: the writer sees items in index order for any worker count, exceptions reach the caller, and one
// level of parallelism holds (several workers run LibTorch and the BLAS at one thread each; the caller's
// thread counts come back after, also after an exception).
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/ordered_pipeline.h"

namespace dsx {

namespace {

// Items finish out of order: item i sleeps longer the smaller (i mod 4) is.
std::vector<int64_t> run_with(int workers, int64_t count, std::vector<int>* worker_threads = nullptr,
                              std::vector<int>* worker_blas = nullptr) {
  std::vector<int64_t> written;
  std::mutex seen;
  run_ordered<int64_t>(
      count, workers,
      [&](int64_t i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2 * (3 - i % 4)));
        std::lock_guard<std::mutex> hold(seen);
        if (worker_threads) worker_threads->push_back(at::get_num_threads());
        if (worker_blas) worker_blas->push_back(blas_threads());
        return i * i;
      },
      [&](int64_t i, int64_t& square) {
        BOOST_TEST(square == i * i);
        written.push_back(i);
      });
  return written;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ordered_pipeline)

BOOST_AUTO_TEST_CASE(items_are_written_in_index_order_for_any_worker_count) {
  for (int workers : {1, 2, 4}) BOOST_TEST(run_with(workers, 37) == iota(37), boost::test_tools::per_element());
  BOOST_TEST(run_with(2, 0).empty());
}

BOOST_AUTO_TEST_CASE(several_workers_compute_on_one_thread_each_and_the_counts_come_back) {
  set_compute_threads(2);
  std::vector<int> threads, blas;
  run_with(2, 16, &threads, &blas);
  BOOST_REQUIRE_EQUAL(threads.size(), 16u);
  for (size_t i = 0; i < threads.size(); ++i) {
    BOOST_TEST(threads[i] == 1);
    if (blas_threads() > 0) BOOST_TEST(blas[i] == 1);  // OpenBLAS (Debian's default BLAS) is there to size
  }
  BOOST_TEST(at::get_num_threads() == 2);
  if (blas_threads() > 0) BOOST_TEST(blas_threads() == 2);
  threads.clear();
  run_with(1, 4, &threads);  // one worker keeps the caller's threads
  for (int t : threads) BOOST_TEST(t == 2);
  set_compute_threads(1);
}

BOOST_AUTO_TEST_CASE(a_workers_exception_reaches_the_caller_and_the_counts_come_back) {
  set_compute_threads(2);
  BOOST_CHECK_EXCEPTION(run_ordered<int>(
                            8, 2,
                            [](int64_t i) -> int {
                              if (i == 5) throw std::runtime_error("item 5 failed");
                              return int(i);
                            },
                            [](int64_t, int&) {}),
                        std::runtime_error,
                        [](const std::runtime_error& e) { return std::string(e.what()) == "item 5 failed"; });
  BOOST_TEST(at::get_num_threads() == 2);
  if (blas_threads() > 0) BOOST_TEST(blas_threads() == 2);
  set_compute_threads(1);
}

BOOST_AUTO_TEST_CASE(intra_op_threads_raise_for_a_scope_and_never_lower) {
  set_compute_threads(1);
  {
    const IntraOpThreads cores(2);
    BOOST_TEST(at::get_num_threads() == 2);
    if (blas_threads() > 0) BOOST_TEST(blas_threads() == 2);
  }
  BOOST_TEST(at::get_num_threads() == 1);
  if (blas_threads() > 0) BOOST_TEST(blas_threads() == 1);
  set_compute_threads(2);
  {
    const IntraOpThreads cores(1);
    BOOST_TEST(at::get_num_threads() == 2);
  }
  set_compute_threads(1);
}

// Stages side by side: the process-wide BLAS pool follows every scope alive, so the first scope to end does not
// undo what another still needs (set-and-restore did: the other's workers got the wide pool back).
BOOST_AUTO_TEST_CASE(the_blas_pool_follows_every_scope_alive) {
  if (blas_threads() == 0) return;  // not OpenBLAS: nothing to size
  set_compute_threads(2);
  {
    std::optional<BlasThreads> workers_a(1), workers_b(1);
    BOOST_TEST(blas_threads() == 1);
    workers_a.reset();  // stage A done, stage B's workers still run
    BOOST_TEST(blas_threads() == 1);
    {
      const BlasThreads serial_part(3);  // a raise while workers run elsewhere waits for them
      BOOST_TEST(blas_threads() == 1);
      workers_b.reset();
      BOOST_TEST(blas_threads() == 3);
    }
    BOOST_TEST(blas_threads() == 2);
  }
  set_compute_threads(1);
  BOOST_TEST(blas_threads() == 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
