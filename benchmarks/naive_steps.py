"""Baselines of benchmark 1: Adam + L2 and AdamW scalar steps written straightforwardly.

Each baseline runs the benchmark's task -- ``steps`` steps over ``n`` elements from exact inputs,
parameters after every step -- the way a user would write it with one number type: hyperparameters
converted once per run, ``bc = 1 - beta**t`` recomputed by a power every step, each gradient converted
when it is used, every element stepped by the textbook equations (torch conventions)::

    Adam + L2: g' = g + wd*p; AdamW: g' = g
    m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2;  m^ = m/(1-b1^t);  v^ = v/(1-b2^t)
    Adam + L2: p = p - lr*m^/(sqrt(v^) + eps);  AdamW: p = p - lr*wd*p - lr*m^/(sqrt(v^) + eps)

* ``mpmath``: mpf arithmetic in a private context at ``digits`` decimal digits (not certified). Run
  with ``MPMATH_NOGMPY=1`` in the environment (a subprocess, see :func:`run_in_subprocess`) it uses
  mpmath's pure-Python integers instead of gmpy2.
* ``arb``: python-flint arb balls at digits*log2(10)+32 bits (certified by construction: every ball
  encloses the exact value).

``python -m benchmarks.naive_steps --backend mpmath --mode AdamW --n 1 --steps 200`` prints one JSON
object with the seconds per element-step and the mpmath backend in use.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

HYPER = {"lr": Fraction(1, 1000), "beta1": Fraction(9, 10), "beta2": Fraction(999, 1000),
         "eps": Fraction(1, 10**8), "weight_decay": Fraction(1, 100)}
MODES = ("Adam+L2", "AdamW")


def task(n: int, steps: int, seed: int = 0) -> tuple[list[Fraction], list[list[Fraction]]]:
    """Initial parameters and gradients of the task: float64 values in [-1, 1), exact as Fractions."""
    import random

    rng = random.Random(seed)
    params = [Fraction(rng.uniform(-1.0, 1.0)) for _ in range(n)]
    grads = [[Fraction(rng.uniform(-1.0, 1.0)) for _ in range(n)] for _ in range(steps)]
    return params, grads


def naive_mpmath(mode: str, params: Sequence[Fraction], grads: Sequence[Sequence[Fraction]], digits: int) -> list[list[Any]]:
    from mpmath.ctx_mp import MPContext

    ctx = MPContext()
    ctx.dps = digits
    mpf = ctx.mpf

    def conv(x: Fraction) -> Any:
        return mpf(x.numerator) / x.denominator

    lr, b1, b2, eps, wd = (conv(HYPER[k]) for k in ("lr", "beta1", "beta2", "eps", "weight_decay"))
    return _loop(mode, params, grads, conv, ctx.sqrt, lr, b1, b2, eps, wd, mpf(1), mpf(0))


def naive_arb(mode: str, params: Sequence[Fraction], grads: Sequence[Sequence[Fraction]], digits: int) -> list[list[Any]]:
    import flint

    with flint.ctx.workprec(int(digits * math.log2(10)) + 32):
        def conv(x: Fraction) -> Any:
            return flint.arb(flint.fmpq(x.numerator, x.denominator))

        lr, b1, b2, eps, wd = (conv(HYPER[k]) for k in ("lr", "beta1", "beta2", "eps", "weight_decay"))
        return _loop(mode, params, grads, conv, lambda x: x.sqrt(), lr, b1, b2, eps, wd, flint.arb(1), flint.arb(0))


def _loop(mode: str, params: Sequence[Fraction], grads: Sequence[Sequence[Fraction]], conv: Callable[[Fraction], Any],
          sqrt: Callable[[Any], Any], lr: Any, b1: Any, b2: Any, eps: Any, wd: Any, one: Any, zero: Any) -> list[list[Any]]:
    coupled = mode == "Adam+L2"
    p = [conv(x) for x in params]
    m = [zero] * len(p)
    v = [zero] * len(p)
    out = []
    for t, row in enumerate(grads, 1):
        bc1 = one - b1**t
        bc2 = one - b2**t
        for i, g_exact in enumerate(row):
            g = conv(g_exact)
            if coupled:
                g = g + wd * p[i]
            m[i] = b1 * m[i] + (one - b1) * g
            v[i] = b2 * v[i] + (one - b2) * g * g
            m_hat = m[i] / bc1
            v_hat = v[i] / bc2
            step = lr * m_hat / (sqrt(v_hat) + eps)
            p[i] = p[i] - step if coupled else p[i] - lr * wd * p[i] - step
        out.append(list(p))
    return out


def time_per_element_step(function: Callable[..., Any], mode: str, n: int, steps: int, digits: int, repeat: int) -> float:
    """Best of ``repeat`` timings of the whole task, divided by n*steps (seconds)."""
    params, grads = task(n, steps)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function(mode, params, grads, digits)
        best = min(best, time.perf_counter() - start)
    return best / (n * steps)


def run_in_subprocess(mode: str, n: int, steps: int, digits: int, repeat: int, *, no_gmpy: bool) -> dict[str, Any]:
    """The mpmath baseline in a fresh interpreter (MPMATH_NOGMPY=1 selects pure-Python integers)."""
    env = dict(os.environ)
    if no_gmpy:
        env["MPMATH_NOGMPY"] = "1"
    else:
        env.pop("MPMATH_NOGMPY", None)
    command = [sys.executable, "-m", "benchmarks.naive_steps", "--backend", "mpmath", "--mode", mode,
               "--n", str(n), "--steps", str(steps), "--digits", str(digits), "--repeat", str(repeat)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("mpmath", "arb"), required=True)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--digits", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import mpmath.libmp

    function = naive_mpmath if args.backend == "mpmath" else naive_arb
    seconds = time_per_element_step(function, args.mode, args.n, args.steps, args.digits, args.repeat)
    print(json.dumps({"seconds": seconds, "mpmath_backend": mpmath.libmp.BACKEND}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
