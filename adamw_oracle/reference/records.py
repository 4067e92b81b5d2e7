"""What one reference step reports for one element: every intermediate quantity of the step."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

N = TypeVar("N")

ADAM_FIELDS = ("g_used", "m", "v", "m_hat", "v_hat", "vmax", "denom", "update", "decay", "p_new")
SGD_FIELDS = ("g_used", "m", "direction", "update", "decay", "p_new")


@dataclass(frozen=True)
class ElementStep(Generic[N]):
    """One element's step t. Quantities that a family does not have are ``None``.

    * ``g_used``: the gradient after maximize negation and coupled L2 (g' of the contract).
    * ``m``, ``v``, ``vmax``: the state after the step (``m`` is SGD's momentum buffer).
    * ``m_hat``, ``v_hat``: bias-corrected moments (equal to ``m``/``v`` with bias correction off).
    * ``denom``: the denominator of the adaptive update as the convention forms it
      (sqrt(v^)+eps, sqrt(v^+eps_root)+eps, or sqrt(v)+eps for epsilon-hat).
    * ``direction``: SGD's step direction (buffer, or g' + momentum*buffer with Nesterov).
    * ``update``: the adaptive (or SGD) step that is subtracted: p_new = p - decay - update.
    * ``decay``: the decoupled decay that is subtracted (0 for NONE and COUPLED_L2).
    * ``p_new``: the parameter after the step.
    """

    t: int
    p: N
    g: N
    g_used: N
    m: N
    update: N
    decay: N
    p_new: N
    v: N | None = None
    m_hat: N | None = None
    v_hat: N | None = None
    vmax: N | None = None
    denom: N | None = None
    direction: N | None = None

    def quantities(self) -> dict[str, Any]:
        """Every non-None quantity by name (input ``p`` and ``g`` included)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "t" and getattr(self, f.name) is not None}
