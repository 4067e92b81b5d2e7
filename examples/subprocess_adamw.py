"""A tiny optimizer program checked through the subprocess protocol (see docs/checking.md).

It reads one JSON case on stdin and writes the parameter trajectory, and its state after every step
(m, v, vmax and the step counter, so that each step is judged from its own state), as JSON on stdout.
The algorithm is
torch.optim.AdamW's (decoupled decay p *= 1 - lr*wd before the step, eps after sqrt(v)/sqrt(bc2),
AMSGrad over raw v), computed in the case's dtype with numpy (bfloat16 via ml_dtypes)::

    adamw-oracle check --cmd "python examples/subprocess_adamw.py" --expect torch.AdamW
"""
import json
import sys

import numpy as np


def main() -> None:
    case = json.load(sys.stdin)
    if case["dtype"] == "bfloat16":
        import ml_dtypes
        dtype = np.dtype(ml_dtypes.bfloat16)
    else:
        dtype = np.dtype(case["dtype"])
    h = case["hyper"]
    p = np.array(case["params"], dtype=np.float64).astype(dtype)
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    # scalar coefficients in float64, then one rounding to the dtype (as torch does)
    b1, b2, eps = dtype.type(h["beta1"]), dtype.type(h["beta2"]), dtype.type(h["eps"])
    c1, c2 = dtype.type(1.0 - h["beta1"]), dtype.type(1.0 - h["beta2"])
    lr_wd = dtype.type(1.0 - h["lr"] * h["weight_decay"])
    out = []
    states: dict = {"m": [], "v": [], "vmax": [], "step": []}
    for t, row in enumerate(case["gradients"], start=1):
        g = np.array(row, dtype=np.float64).astype(dtype)
        if h["maximize"]:
            g = -g
        p = p * lr_wd
        m = b1 * m + c1 * g
        v = b2 * v + c2 * g * g
        if h["amsgrad"]:
            vmax = np.maximum(vmax, v)
        bc1, bc2 = 1.0 - h["beta1"] ** t, 1.0 - h["beta2"] ** t
        denom = np.sqrt(vmax if h["amsgrad"] else v) / dtype.type(np.sqrt(bc2)) + eps
        p = p - dtype.type(h["lr"] / bc1) * m / denom
        out.append([float(x) for x in p])
        for name, value in (("m", m), ("v", v), ("vmax", vmax)):
            states[name].append([float(x) for x in value])
        states["step"].append(t)
    if not h["amsgrad"]:
        del states["vmax"]
    json.dump({"params": out, "state": states}, sys.stdout)


if __name__ == "__main__":
    main()
