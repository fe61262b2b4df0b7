#include "dist/group.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef DSX_WITH_NCCL
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"

namespace dsx::dist {

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout{0};
#ifdef DSX_WITH_NCCL
  // Made at the first collective on a CUDA tensor (every rank reaches it at the same point), on the same
  // store under its own key prefix; CUDA_VISIBLE_DEVICES already names this rank's GPU (world.h).
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
  c10d::ProcessGroupNCCL& nccl_group(int rank, int size) {
    if (!nccl) {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store), rank,
                                                         size, opts);
    }
    return *nccl;
  }
#endif
};

namespace {

// A collective that failed: another rank died (its sockets closed) or did not arrive within the time-out.
template <class F>
auto guarded(const World& w, const std::string& what, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);  // c10 appends a backtrace
    fail("rank {} of {}: {} failed: another rank stopped or did not answer in time ({})", w.rank, w.size, what, msg);
  }
}

}  // namespace

Group::Group(const World& world, std::chrono::milliseconds timeout)
    : world_(world), impl_(std::make_unique<Impl>()), timeout_s_(double(timeout.count()) / 1000.0) {
  impl_->timeout = timeout;
  guarded(world_, "joining the process group", [&] {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(world_.master_port);
    so.isServer = world_.rank == 0;
    so.numWorkers = size_t(world_.size);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(world_.master_addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
        world_.master_addr == "localhost" ? std::string("127.0.0.1") : world_.master_addr));
    opts->threads = 1;  // the collectives here are small; the cores belong to the stages
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, world_.rank, world_.size, opts);
    return 0;
  });
}

Group::~Group() = default;

void Group::barrier() {
  guarded(world_, "barrier", [&] { return impl_->pg->barrier()->wait(); });
}

bool Group::has_nccl() {
#ifdef DSX_WITH_NCCL
  return true;
#else
  return false;
#endif
}

// CPU tensors go through Gloo. CUDA tensors go through NCCL where dsx was built with it, else through Gloo
// by way of a host copy.
template <class Collective>
void Group::on_backend(at::Tensor& t, const char* what, Collective collective) {
  guarded(world_, what, [&] {
    std::vector<at::Tensor> ts = {t};
    if (!t.is_cuda()) return collective(*impl_->pg, ts)->wait();
#ifdef DSX_WITH_NCCL
    return collective(impl_->nccl_group(rank(), size()), ts)->wait();
#else
    std::vector<at::Tensor> host = {t.cpu()};
    const bool done = collective(*impl_->pg, host)->wait();
    t.copy_(host[0]);
    return done;
#endif
  });
}

void Group::broadcast(at::Tensor& t, int root) {
  if (rank() == root) bytes_ += uint64_t(t.nbytes());
  on_backend(t, "broadcast", [&](auto& pg, std::vector<at::Tensor>& ts) {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    return pg.broadcast(ts, o);
  });
}

void Group::all_reduce_sum(at::Tensor& t) {
  bytes_ += uint64_t(t.nbytes());
  on_backend(t, "all-reduce", [](auto& pg, std::vector<at::Tensor>& ts) { return pg.allreduce(ts); });
}

void Group::post(const std::string& key, const std::string& value) {
  guarded(world_, "posting " + key, [&] {
    impl_->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
    return 0;
  });
}

std::string Group::await(const std::string& key) {
  constexpr auto kPoll = std::chrono::milliseconds(100);
  while (!guarded(world_, "waiting for " + key, [&] { return impl_->store->check({key}); }))
    std::this_thread::sleep_for(kPoll);
  const std::vector<uint8_t> v = guarded(world_, "reading " + key, [&] { return impl_->store->get(key); });
  return std::string(v.begin(), v.end());
}

std::string Group::broadcast(const std::string& s, int root) {
  at::Tensor n = at::tensor({int64_t(s.size())}, at::kLong);
  broadcast(n, root);
  at::Tensor bytes = at::empty({n.item<int64_t>()}, at::kByte);
  if (rank() == root) std::memcpy(bytes.data_ptr(), s.data(), s.size());
  if (bytes.numel()) broadcast(bytes, root);
  return std::string(static_cast<const char*>(bytes.data_ptr()), size_t(bytes.numel()));
}

void Group::raise_any(const std::string& my_error, const std::string& what) {
  const std::vector<std::string> errors = all_gather(my_error);
  for (int r = 0; r < size(); ++r)
    if (!errors[size_t(r)].empty()) fail("{} failed on rank {}: {}", what, r, errors[size_t(r)]);
}

std::vector<std::string> Group::all_gather(const std::string& mine) {
  at::Tensor len = at::tensor({int64_t(mine.size())}, at::kLong);
  std::vector<std::vector<at::Tensor>> lens(1);
  for (int r = 0; r < size(); ++r) lens[0].push_back(at::empty({1}, at::kLong));
  std::vector<at::Tensor> in = {len};
  guarded(world_, "all-gather", [&] { return impl_->pg->allgather(lens, in)->wait(); });
  int64_t longest = 1;
  for (const auto& l : lens[0]) longest = std::max(longest, l.item<int64_t>());
  at::Tensor padded = at::zeros({longest}, at::kByte);
  std::memcpy(padded.data_ptr(), mine.data(), mine.size());
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size(); ++r) out[0].push_back(at::empty({longest}, at::kByte));
  in = {padded};
  guarded(world_, "all-gather", [&] { return impl_->pg->allgather(out, in)->wait(); });
  bytes_ += uint64_t(len.nbytes() + padded.nbytes());
  std::vector<std::string> all;
  for (int r = 0; r < size(); ++r)
    all.emplace_back(static_cast<const char*>(out[0][size_t(r)].data_ptr()),
                     size_t(lens[0][size_t(r)].item<int64_t>()));
  return all;
}

}  // namespace dsx::dist
