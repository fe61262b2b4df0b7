#include "support/script_models.h"

#include <torch/script.h>

namespace dsx::test {
namespace {

// GaussianMixture::denoise and its responsibility features, op for op (addcmul for the fused K passes).
const char* kMixtureMethods = R"(
def _parts(self, x, sigma):
    b = x.size(0)
    xf = x.reshape(b, -1)
    k = self.means.size(0)
    d = xf.size(1)
    d2 = torch.empty(b, k, dtype=x.dtype, device=x.device)
    for j in range(k):
        d2.select(1, j).copy_((xf - self.means[j]).square().sum(1))
    s2 = self.stds.square().unsqueeze(0)
    v = s2 + sigma.reshape(b, 1).square()
    logits = self.log_weights.unsqueeze(0) - 0.5 * float(d) * torch.log(6.283185307179586 * v) - d2 / (2 * v)
    w = torch.softmax(logits, 1)
    return xf, s2, v, w

def _blend(self, x, xf, s2, v, w):
    a = (w * s2 / v).sum(1, True)
    c = w * (1 - s2 / v)
    mix = c.select(1, 0).unsqueeze(1) * self.means[0]
    for j in range(1, self.means.size(0)):
        mix.addcmul_(c.select(1, j).unsqueeze(1), self.means[j])
    return (a * xf + mix).reshape(x.size())

def _slots(self, w):
    b = w.size(0)
    slots = torch.zeros(b, 64, dtype=w.dtype, device=w.device)
    slots.narrow(1, 0, w.size(1)).copy_(w)
    return slots.reshape(b, 1, 8, 8)

def denoise(self, x, sigma):
    xf, s2, v, w = self._parts(x, sigma)
    return self._blend(x, xf, s2, v, w)
)";

const char* kDenoisedForm = R"(
def forward(self, x, sigma):
    return self.denoise(x, sigma)

def features(self, x, sigma):
    xf, s2, v, w = self._parts(x, sigma)
    return self._blend(x, xf, s2, v, w), self._slots(w.detach())
)";

// VP-linear with β0 = 0.1, β1 = 20: log α = −¼t²(β1−β0) − ½tβ0, σ̂ = sqrt(e^{−2 log α} − 1).
const char* kVpForm = R"(
def _vp(self, x, t):
    log_alpha = -0.25 * t.square() * (20.0 - 0.1) - 0.5 * t * 0.1
    alpha = torch.exp(log_alpha)
    sigma_hat = torch.sqrt(torch.expm1(-2.0 * log_alpha))
    shape = [x.size(0)] + [1] * (x.dim() - 1)
    xh = x / alpha.reshape(shape)
    d = self.denoise(xh, sigma_hat)
    eps = (xh - d) / sigma_hat.reshape(shape)
    return alpha.reshape(shape), (sigma_hat * alpha).reshape(shape), eps, d
)";

}  // namespace

void save_script_module(const std::string& source, const std::string& path,
                        const std::map<std::string, at::Tensor>& buffers, std::vector<int64_t> img_shape) {
  torch::jit::Module m("StandIn");
  for (const auto& [name, t] : buffers) m.register_buffer(name, t);
  if (!img_shape.empty()) m.register_attribute("img_shape", c10::ListType::ofInts(), c10::IValue(img_shape));
  m.define(source);
  m.save(path);
}

void save_script_mixture(const GaussianMixture& mixture, ScriptForm form, const std::string& path) {
  torch::jit::Module m("ScriptedMixture");
  m.register_buffer("means", mixture.means().to(at::kDouble).clone());
  m.register_buffer("stds", mixture.stds().to(at::kDouble).clone());
  m.register_buffer("log_weights", mixture.weights().to(at::kDouble).log());
  m.register_attribute("img_shape", c10::ListType::ofInts(), c10::IValue(mixture.info().sample_shape));
  std::string source = kMixtureMethods;
  switch (form) {
    case ScriptForm::Denoised:
      m.register_attribute("sigma_min", c10::FloatType::get(), 0.002);
      m.register_attribute("sigma_max", c10::FloatType::get(), 80.0);
      source += kDenoisedForm;
      break;
    case ScriptForm::Conditional:
      m.register_buffer("offsets", at::tensor({0.0, 0.5, 1.0}, at::kDouble));
      source += R"(
def forward(self, x, sigma, class_labels):
    shift = (class_labels * self.offsets).sum(1).reshape([x.size(0)] + [1] * (x.dim() - 1))
    return self.denoise(x - shift, sigma) + shift
)";
      break;
    case ScriptForm::VpEps:
      source +=
          std::string(kVpForm) + "\ndef forward(self, x, t):\n    a, s, eps, d = self._vp(x, t)\n    return eps\n";
      break;
    case ScriptForm::VpX0:
      source += std::string(kVpForm) + "\ndef forward(self, x, t):\n    a, s, eps, d = self._vp(x, t)\n    return d\n";
      break;
    case ScriptForm::VpV:
      source += std::string(kVpForm) +
                "\ndef forward(self, x, t):\n    a, s, eps, d = self._vp(x, t)\n    return a * eps - s * d\n";
      break;
  }
  m.define(source);
  m.save(path);
}

}  // namespace dsx::test
