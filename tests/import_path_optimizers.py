"""Small real torch optimizers for tests/test_import_path.py, named there by import path
(``import_path_optimizers:PlainAdamW``): the module is importable because pytest puts tests/ on sys.path.

``PlainAdamW`` is torch.AdamW's algorithm (GUIDE section 1, preset ``torch.AdamW``) written from its
equations, per step t, in the parameter's dtype::

    p <- p * (1 - lr * wd)
    m <- beta1 m + (1 - beta1) g ;  v <- beta2 v + (1 - beta2) g^2
    p <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

Its constructor takes only ``lr, betas, eps, weight_decay``: no amsgrad, maximize, foreach or fused.
``Float32AdamW`` does the same arithmetic in float32 whatever the parameter's dtype (state in float32,
the result cast back), as several third-party optimizers do for float64 parameters.
``ZeroesGradAdamW`` is PlainAdamW that zeroes ``p.grad`` in place after its step (a write into the
caller's gradient). ``ForwardingAdamW`` forwards ``**kwargs`` to torch.optim.AdamW.
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")


class PlainAdamW(torch.optim.Optimizer):
    compute_dtype: torch.dtype | None = None  # None: the parameter's own dtype

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                dt = self.compute_dtype or p.dtype
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p, dtype=dt)
                    st["exp_avg_sq"] = torch.zeros_like(p, dtype=dt)
                st["step"] += 1
                t = st["step"]
                g = p.grad.to(dt)
                w = p.to(dt) * (1 - lr * wd)
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = v.sqrt() / math.sqrt(1 - b2 ** t) + eps
                w = w - (lr / (1 - b1 ** t)) * m / denom
                p.copy_(w.to(p.dtype))
        return None


class Float32AdamW(PlainAdamW):
    compute_dtype = torch.float32


class ZeroesGradAdamW(PlainAdamW):
    @torch.no_grad()
    def step(self, closure=None):
        super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.zero_()
        return None


class ForwardingAdamW(torch.optim.AdamW):
    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)


def not_an_optimizer(x: float) -> float:
    return 2 * x
