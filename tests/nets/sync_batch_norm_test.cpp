// BatchNorm over a data-parallel batch (dist/sync_batch_norm.h) against one process's BatchNorm on the
// whole batch, in float64: two ranks (threads of this process, a real c10d group over loopback) each hold
// part of the batch (unequal parts: 5 and 7 rows); the output rows, the input gradient, γ/β's summed
// gradients and the running statistics equal BatchNorm2d's on all 12 rows to rounding (1e-12).
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>

#include <thread>

#include "dist/group.h"
#include "dist/launch.h"
#include "dist/sync_batch_norm.h"
#include "nets/classifier.h"

namespace dsx::test {
namespace {

struct RankResult {
  at::Tensor y, dx, dweight, dbias, running_mean, running_var;
};

torch::nn::BatchNorm2d make_bn() {
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(3).momentum(0.3));
  bn->to(at::kDouble);
  at::NoGradGuard no_grad;
  bn->weight.copy_(at::tensor({1.5, -0.5, 2.0}, at::kDouble));
  bn->bias.copy_(at::tensor({0.1, 0.2, -0.3}, at::kDouble));
  bn->train();
  return bn;
}

// The loss weights every output differently, so the gradient depends on all of the batch's statistics.
RankResult forward_backward(torch::nn::BatchNorm2d& bn, const at::Tensor& x, const at::Tensor& w,
                            const dist::DataParallel& dp) {
  const at::Tensor xi = x.detach().requires_grad_(true);
  const at::Tensor y = dist::sync_batch_norm(xi, *bn, dp);
  (y * w).sum().backward();
  std::vector<double> none;
  dp.sum_gradients(bn->parameters(), none);
  return {y.detach(),
          xi.grad(),
          bn->weight.grad().clone(),
          bn->bias.grad().clone(),
          bn->running_mean.clone(),
          bn->running_var.clone()};
}

double gap(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Runs body(rank, dp) on two ranks of a loopback c10d group, rank 1 on a thread; rethrows either's error.
template <class Body>
void on_two_ranks(Body body) {
  dist::World world;
  world.size = 2;
  world.master_port = dist::free_loopback_port();
  std::string errors[2];
  auto rank = [&](int r) {
    try {
      dist::World me = world;
      me.rank = me.local_rank = r;
      dist::Group group(me, std::chrono::seconds(30));
      body(r, dist::DataParallel{&group});
      group.barrier();
    } catch (const std::exception& e) {
      errors[r] = e.what();
    }
  };
  std::thread t1(rank, 1);
  rank(0);
  t1.join();
  BOOST_REQUIRE_MESSAGE(errors[0].empty() && errors[1].empty(), errors[0] + " | " + errors[1]);
}

Classifier float64_classifier() {
  at::manual_seed(3);
  Classifier net(ClassifierOptions{});
  net->to(at::kDouble);
  return net;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sync_batch_norm)

BOOST_AUTO_TEST_CASE(two_ranks_equal_batch_norm_on_the_whole_batch, *boost::unit_test::timeout(60)) {
  at::Generator g = at::detail::createCPUGenerator(7);
  const at::Tensor x = at::randn({12, 3, 4, 5}, g, at::kDouble) * 3 + 1;
  const at::Tensor w = at::randn({12, 3, 4, 5}, g, at::kDouble);
  const int64_t split = 5;

  torch::nn::BatchNorm2d whole_bn = make_bn();
  const RankResult whole = forward_backward(whole_bn, x, w, {});

  RankResult parts[2];
  on_two_ranks([&](int r, const dist::DataParallel& dp) {
    torch::nn::BatchNorm2d bn = make_bn();
    const int64_t lo = r == 0 ? 0 : split, n = r == 0 ? split : 12 - split;
    parts[r] = forward_backward(bn, x.narrow(0, lo, n), w.narrow(0, lo, n), dp);
  });

  const double tol = 1e-12;
  BOOST_TEST(gap(at::cat({parts[0].y, parts[1].y}), whole.y) < tol);
  BOOST_TEST(gap(at::cat({parts[0].dx, parts[1].dx}), whole.dx) < tol);
  for (const RankResult& p : parts) {
    BOOST_TEST(gap(p.dweight, whole.dweight) < tol);
    BOOST_TEST(gap(p.dbias, whole.dbias) < tol);
    BOOST_TEST(gap(p.running_mean, whole.running_mean) < tol);
    BOOST_TEST(gap(p.running_var, whole.running_var) < tol);
  }
  // Each rank's own statistics would give another output: the test can tell the two apart.
  torch::nn::BatchNorm2d local_bn = make_bn();
  const RankResult local = forward_backward(local_bn, x.narrow(0, 0, split), w.narrow(0, 0, split), {});
  BOOST_TEST(gap(local.y, whole.y.narrow(0, 0, split)) > 1e-3);
}

// The classifier's training loop over two ranks (each half of every batch of 32) against one process, in
// float64: 8 Adam steps through four synchronised BatchNorms give the same weights, running statistics,
// loss and test accuracy to 1e-8 relative (measured: 1.7e-9 at most, on a conv bias in front of a BatchNorm,
// whose gradient is zero up to rounding; everything else below 1e-9). (In float32 the conv biases in front of each
// BatchNorm have a zero gradient up to rounding, which Adam scales up to lr-sized steps: that is why the stage test's
// float32 tolerance is loose and this one is the exact check.)
BOOST_AUTO_TEST_CASE(the_classifier_trains_alike_on_two_ranks, *boost::unit_test::timeout(120)) {
  at::Generator g = at::detail::createCPUGenerator(11);
  const at::Tensor images = at::rand({256, 1, 32, 32}, g, at::kDouble) * 2 - 1;
  const at::Tensor labels = at::randint(0, 10, {256}, g, at::kLong);
  ClassifierTrainOptions o;
  o.epochs = 1;
  o.batch = 32;
  Classifier one = float64_classifier();
  const ClassifierReport r1 =
      train_classifier(one, o, images, labels, images.narrow(0, 0, 100), labels.narrow(0, 0, 100), nullptr);
  Classifier nets[2] = {float64_classifier(), float64_classifier()};
  ClassifierReport reports[2];
  on_two_ranks([&](int r, const dist::DataParallel& dp) {
    reports[r] =
        train_classifier(nets[r], o, images, labels, images.narrow(0, 0, 100), labels.narrow(0, 0, 100), nullptr, dp);
  });
  for (int r = 0; r < 2; ++r) {
    auto theirs = nets[r]->named_parameters();
    for (const auto& p : one->named_parameters())
      BOOST_TEST(gap(p.value(), theirs[p.key()]) <= 1e-8 * p.value().abs().max().item<double>(),
                 p.key() << " " << gap(p.value(), theirs[p.key()]) << " of " << p.value().abs().max().item<double>());
    auto buffers = nets[r]->named_buffers();
    for (const auto& b : one->named_buffers())
      BOOST_TEST(gap(b.value().to(at::kDouble), buffers[b.key()].to(at::kDouble)) <=
                     1e-8 * b.value().abs().max().item<double>(),
                 b.key());
    BOOST_TEST(reports[r].test_accuracy == r1.test_accuracy);
    BOOST_TEST(std::abs(reports[r].train_loss - r1.train_loss) < 1e-9);
  }
  BOOST_TEST(r1.steps == 8);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
