"""Copy-paste reproductions of a failing case.

The text is a complete Python program: it rebuilds the exact case from its JSON description (exact
decimal / ``p/q`` strings, so nothing is lost), runs the implementation and prints the judge's verdict,
which names the first step and element outside the bound.
"""
from __future__ import annotations

import json
from typing import Any

from adamw_oracle.adapters.subprocess_adapter import SubprocessImplementation
from adamw_oracle.contract.case import Case, Implementation


def target_expression(target: Any, impl: Implementation) -> tuple[str, str]:
    """(import lines, expression) that rebuild the implementation in a fresh interpreter."""
    if isinstance(impl, SubprocessImplementation):
        return ("from adamw_oracle.adapters import SubprocessImplementation",
                f"SubprocessImplementation({impl.argv!r}, timeout={impl.timeout!r})")
    spec = target if isinstance(target, str) else (impl.name if ":" in impl.name else None)
    options = getattr(impl, "options", None)
    if spec is not None:
        extra = f", options={dict(options)!r}" if options else ""
        return "from adamw_oracle.adapters import resolve_target", f"resolve_target({spec!r}{extra})"
    return "", f"...  # the implementation object you checked ({impl.name})"


def reproduction(case: Case, target: Any, impl: Implementation, mode: str = "trajectory") -> str:
    """A runnable program that replays ``case`` on the implementation and prints the verdict (judged
    per step from the implementation's own state when ``mode`` is ``"per-step"``)."""
    imports, expr = target_expression(target, impl)
    doc = json.dumps(case.run.as_dict(), indent=None)
    judge_import = ("from adamw_oracle.verify.resync import judge_resynced as judge" if mode == "per-step"
                    else "from adamw_oracle.verify import judge")
    lines = [
        "import json",
        "from adamw_oracle import Run, Dtype",
        "from adamw_oracle.adapters import Case",
        judge_import,
    ]
    if imports:
        lines.append(imports)
    lines += [
        f"run = Run.from_dict(json.loads({doc!r}))",
        f"case = Case(run, Dtype({case.dtype.value!r}))",
        f"impl = {expr}",
        "observation = impl.run(case)",
        "print(observation.params, observation.error or '')",
        "declare = getattr(impl, 'precision_model', None)  # the precision the target declares, as check used it",
        "print(judge(case, observation, precision=declare(case.dtype) if callable(declare) else None).describe())",
    ]
    return "\n".join(lines)
