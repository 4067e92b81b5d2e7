"""Check a numpy optimizer against one adamw-oracle test-vector file, using only numpy and json.

    python examples/vectors_numpy.py vectors/torch.AdamW.float32.json
    python examples/vectors_numpy.py vectors/torch.AdamW.float32.json --wrong    # a deliberate bug

The implementation below follows the equations of every convention a file can name (its groups carry
them): Adam with coupled L2 or decoupled decay (scaled by lr, by the schedule multiplier, or unscaled; on
the previous or the updated parameter), eps after the root, inside it, epsilon-hat or as a floor under it, bias correction
on/off, AMSGrad over raw v or over v-hat, maximize; and SGD with momentum, dampening and Nesterov.
float64 and float32 files are computed in their own dtype; float16 and bfloat16 files in float32, with
p, m and v stored in the file's dtype after every step. ``--wrong`` forgets the bias correction of the
second moment.

Prints ``N passed, M failed`` (and the first failures); exit status 1 when any vector failed.
"""
from __future__ import annotations

import json
import sys

import numpy as np

WIDTH = {"float64": 64, "float32": 32, "float16": 16, "bfloat16": 16}


def decode(patterns: list[str], dtype: str) -> np.ndarray:
    """Bit patterns ("0x...") to float64 values (exact)."""
    ints = np.array([int(b, 16) for b in patterns], dtype=np.uint64)
    if dtype == "float64":
        return ints.view(np.float64)
    if dtype == "float32":
        return ints.astype(np.uint32).view(np.float32).astype(np.float64)
    if dtype == "float16":
        return ints.astype(np.uint16).view(np.float16).astype(np.float64)
    return (ints.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)


def encode(value: float, dtype: str) -> int:
    """A value of the dtype (held in a float64) to its bit pattern."""
    if dtype == "float64":
        return int(np.array([value], dtype=np.float64).view(np.uint64)[0])
    if dtype == "float32":
        return int(np.array([value], dtype=np.float32).view(np.uint32)[0])
    if dtype == "float16":
        return int(np.array([value], dtype=np.float16).view(np.uint16)[0])
    return int(np.array([value], dtype=np.float32).view(np.uint32)[0]) >> 16


def store(x: np.ndarray, dtype: str) -> np.ndarray:
    """Round float32/float64 values to the storage dtype (nearest, ties to even), as float64."""
    if dtype in ("float64", "float32"):
        return x
    if dtype == "float16":
        return x.astype(np.float16).astype(np.float64)
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) & np.uint64(0xFFFF0000)
    nan = np.isnan(x)
    out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    out[nan] = np.nan
    return out


def ordinal(bits: int, dtype: str) -> int:
    """The position of a pattern among the dtype's values in numeric order (+0 and -0 both 0)."""
    sign = 1 << (WIDTH[dtype] - 1)
    return -(bits & (sign - 1)) if bits & sign else bits


def adam_step(conv: dict, h: dict, t: int, p, g, m, v, vmax, ft, wrong: bool):
    one = ft(1)
    b1, b2, lr_t = ft(h["beta1"]), ft(h["beta2"]), ft(h["lr"] * h["schedule_multiplier"])
    eps, eps_root, wd = ft(h["eps"]), ft(h["eps_root"]), ft(h["weight_decay"])
    if conv["bias_correction"] == "on":
        bc1, bc2 = ft(1 - h["beta1"] ** t), ft(1 - h["beta2"] ** t)
    else:
        bc1 = bc2 = one
    if wrong:
        bc2 = one
    g = -g if conv["maximize"] else g
    if conv["weight_decay"] == "coupled_l2":
        g = g + wd * p
    m = b1 * m + (one - b1) * g
    v = b2 * v + (one - b2) * (g * g)
    if conv["amsgrad"] == "max_raw_v":
        vmax = np.maximum(vmax, v)
        v_tilde, raw = vmax / bc2, vmax
    elif conv["amsgrad"] == "max_v_hat":
        vmax = np.maximum(vmax, v / bc2)
        v_tilde, raw = vmax, vmax * bc2
    else:
        v_tilde, raw = v / bc2, v
    if conv["eps_placement"] == "epsilon_hat":
        update = (lr_t * np.sqrt(bc2) / bc1) * m / (np.sqrt(raw) + eps)
    elif conv["eps_placement"] == "inside_root":
        update = lr_t * (m / bc1) / (np.sqrt(v_tilde + eps_root) + eps)
    elif conv["eps_placement"] == "floor":
        update = lr_t * (m / bc1) / np.maximum(np.sqrt(v_tilde), eps)
    else:
        update = lr_t * (m / bc1) / (np.sqrt(v_tilde) + eps)
    return decay(conv, h, p, update, ft), m, v, vmax


def decay(conv: dict, h: dict, p, update, ft):
    rates = {"decoupled_lr": h["lr"] * h["schedule_multiplier"] * h["weight_decay"],
             "decoupled_schedule": h["schedule_multiplier"] * h["weight_decay"], "decoupled_unscaled": h["weight_decay"]}
    c = ft(rates.get(conv["weight_decay"], 0.0))
    if conv["decay_target"] == "updated_param":
        q = p - update
        return q - c * q
    return p - c * p - update


def sgd_step(conv: dict, h: dict, t: int, p, g, buf, ft):
    lr_t, wd, mu = ft(h["lr"] * h["schedule_multiplier"]), ft(h["weight_decay"]), ft(h["momentum"])
    g = -g if conv["maximize"] else g
    if conv["weight_decay"] == "coupled_l2":
        g = g + wd * p
    if h["momentum"] != 0:
        buf = g if t == 1 else mu * buf + ft(1 - h["dampening"]) * g
        direction = g + mu * buf if h["nesterov"] else buf
    else:
        direction = g
    return decay(conv, h, p, lr_t * direction, ft), buf


def run_vector(group: dict, vector: dict, dtype: str, wrong: bool) -> list[str]:
    """The failures of one vector (empty when it passes)."""
    ft = np.float64 if dtype == "float64" else np.float32
    conv = group["conventions"]
    h = {k: (v if k == "nesterov" else float(np.float64(eval_decimal(v["decimal"])))) for k, v in group["hyperparameters"].items()}
    init = vector["initial"]
    n = len(init["params"])
    zeros = ["0x0"] * n
    p = decode(init["params"], dtype).astype(ft)
    m, v, vmax = (decode(init.get(k, zeros), dtype).astype(ft) for k in ("m", "v", "vmax"))
    failures = []
    with np.errstate(all="ignore"):
        for k, step in enumerate(vector["steps"]):
            t = init["step"] + k + 1
            g = decode(step["grads"], dtype).astype(ft)
            if conv["family"] == "adam":
                p, m, v, vmax = adam_step(conv, h, t, p, g, m, v, vmax, ft, wrong)
                v, vmax = store(v, dtype).astype(ft), store(vmax, dtype).astype(ft)
            else:
                p, m = sgd_step(conv, h, t, p, g, m, ft)
            p, m = store(p, dtype).astype(ft), store(m, dtype).astype(ft)
            for name, ours in (("p", p), ("m", m), ("v", v)):
                if name in step:
                    failures += compare(step[name], np.asarray(ours, dtype=np.float64), dtype, f"{name}[step {k + 1}]")
    return failures


def compare(expected: dict, ours: np.ndarray, dtype: str, where: str) -> list[str]:
    out = []
    for i, ulps in enumerate(expected["ulps"]):
        value, want = float(ours[i]), int(expected["bits"][i], 16)
        got = None if np.isnan(value) else encode(value, dtype)
        if ulps is None:  # acceptable: any finite value, or the expected infinity
            ok = np.isfinite(value) or got == want
        else:
            ok = got is not None and abs(ordinal(got, dtype) - ordinal(want, dtype)) <= ulps
        if not ok:
            out.append(f"{where} element {i}: {value!r}, expected {expected['decimal'][i]} within {ulps} ulp")
    return out


def eval_decimal(text: str) -> float:
    """An exact hyperparameter string ("0.001", "1e-8" or "p/q") as the nearest float64."""
    if "/" in text:
        num, den = text.split("/")
        return int(num) / int(den)
    return float(text)


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        document = json.load(handle)
    wrong = "--wrong" in argv[1:]
    dtype = document["dtype"]
    passed, failed, shown = 0, 0, []
    for group in document["groups"]:
        for vector in group["vectors"]:
            problems = run_vector(group, vector, dtype, wrong)
            if problems:
                failed += 1
                shown.append(f"  vector {vector['id']} ({', '.join(vector['flags'])}): {problems[0]}")
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed")
    print("\n".join(shown[:5]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
