#pragma once
// Work items 0..count-1 through `workers` parallel workers → a sequencer → one serial writer, the shape of
// oneTBB's fgbzip2 example:
//
//   [ticket source] → (limiter: workers + 1 alive) → [work × workers] → [sequencer] → [write, serial]
//                          ↑______________________________________________________________|
//
// The writer sees items in index order whatever order the workers finish in, so its output is identical
// for any worker count; the limiter bounds the items alive (running or waiting to be written), so memory
// does not grow with `count`. One level of parallelism: with several workers each keeps LibTorch to one
// intra-op thread and the BLAS to one (TBB workers × OpenMP or BLAS threads oversubscribe the cores and were
// measured slower).
#include <oneapi/tbb/flow_graph.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "core/threads.h"

namespace dsx {

template <typename Item>
void run_ordered(int64_t count, int workers, const std::function<Item(int64_t)>& work,
                 const std::function<void(int64_t, Item&)>& write) {
  namespace flow = oneapi::tbb::flow;
  using Slot = std::pair<int64_t, std::shared_ptr<Item>>;
  workers = std::max(1, workers);
  const int saved_threads = at::get_num_threads();
  if (workers > 1) at::set_num_threads(1);
  std::optional<BlasThreads> one_blas_thread;  // while several workers run
  if (workers > 1) one_blas_thread.emplace(1);
  flow::graph g;
  int64_t next = 0;
  flow::input_node<int64_t> source(g, [&](oneapi::tbb::flow_control& fc) -> int64_t {
    if (next >= count) {
      fc.stop();
      return 0;
    }
    return next++;
  });
  flow::limiter_node<int64_t> limiter(g, size_t(workers) + 1);
  flow::function_node<int64_t, Slot> worker(g, size_t(workers), [&](int64_t i) {
    if (workers > 1) at::set_num_threads(1);  // per OS thread under OpenMP: set on the worker too
    return Slot{i, std::make_shared<Item>(work(i))};
  });
  flow::sequencer_node<Slot> order(g, [](const Slot& s) { return size_t(s.first); });
  flow::function_node<Slot, flow::continue_msg> writer(g, flow::serial, [&](Slot s) {
    write(s.first, *s.second);
    return flow::continue_msg();
  });
  flow::make_edge(source, limiter);
  flow::make_edge(limiter, worker);
  flow::make_edge(worker, order);
  flow::make_edge(order, writer);
  flow::make_edge(writer, limiter.decrementer());
  try {
    source.activate();
    g.wait_for_all();  // rethrows the first exception of a node body
  } catch (...) {
    at::set_num_threads(saved_threads);
    throw;
  }
  at::set_num_threads(saved_threads);
}

}  // namespace dsx
