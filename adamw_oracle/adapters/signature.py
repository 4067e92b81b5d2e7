"""Map a case's hyperparameters onto an optimizer constructor by reading its signature.

An optimizer class or factory named by import path (``torch.optim:AdamW``, ``optax:adamw``,
``keras.optimizers:AdamW``) is called with keyword arguments only, each spelled as the constructor
spells it (``inspect.signature``):

=============  =============================================================
hyperparameter accepted spellings (first match wins)
=============  =============================================================
lr             ``lr``, ``learning_rate``
beta1, beta2   ``betas=(beta1, beta2)``; ``beta1``/``beta2``; ``b1``/``b2``; ``beta_1``/``beta_2``
eps            ``eps``, ``epsilon``
eps_root       ``eps_root``                      (capability ``eps_root``)
weight_decay   ``weight_decay``                  (capability ``weight_decay``)
amsgrad        ``amsgrad``                       (capability ``amsgrad``)
maximize       ``maximize``                      (capability ``maximize``)
=============  =============================================================

SGD-family classes (no betas, but ``momentum``, ``dampening`` and ``nesterov``) take ``lr, momentum,
dampening, weight_decay, nesterov, maximize``. An optional switch the constructor does not accept is a
capability the target lacks: cases that need it are never drawn for it (so it is never called with an
argument it does not know). A constructor that ends in ``**kwargs`` is read together with the
constructors of its base classes (a subclass forwarding to ``super().__init__``). Fixed ``options``
(``--option foreach=false``) are passed as given; they must name a parameter of the constructor that is
not one of the mapped hyperparameters.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adamw_oracle.adapters.base import CaseOptions
from adamw_oracle.contract.capabilities import Capability
from adamw_oracle.contract.conventions import Family
from adamw_oracle.errors import InvalidArgumentError

_LR = ("lr", "learning_rate")
_BETA_PAIRS = (("beta1", "beta2"), ("b1", "b2"), ("beta_1", "beta_2"))
_EPS = ("eps", "epsilon")
_SWITCHES = {Capability.EPS_ROOT: "eps_root", Capability.WEIGHT_DECAY: "weight_decay",
             Capability.AMSGRAD: "amsgrad", Capability.MAXIMIZE: "maximize"}
_SGD_NAMES = ("momentum", "dampening", "nesterov")


def accepted_parameters(obj: Any) -> dict[str, inspect.Parameter]:
    """The keyword-passable parameters of ``obj``'s constructor (a class) or of ``obj`` (a function).

    Follows ``**kwargs`` into the ``__init__`` of base classes. Raises InvalidArgumentError when no
    signature can be read.
    """
    sources: list[Any] = [vars(c)["__init__"] for c in obj.__mro__ if "__init__" in vars(c)] if isinstance(obj, type) else [obj]
    out: dict[str, inspect.Parameter] = {}
    for fn in sources:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            raise InvalidArgumentError("target", _qualname(obj), "a class or function whose signature can be read") from None
        more = False
        for name, par in sig.parameters.items():
            if par.kind is inspect.Parameter.VAR_KEYWORD:
                more = True
            elif par.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
                out.setdefault(name, par)
        if not more:
            break
    out.pop("self", None)
    return out


@dataclass(frozen=True)
class ConstructorMap:
    """How a case's hyperparameters are spelled for one constructor (see the module docstring)."""

    target: str
    family: Family
    lr: str
    betas: str | tuple[str, str] | None
    eps: str | None
    switches: Mapping[Capability, str]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset(self.switches)

    def kwargs(self, opts: CaseOptions) -> dict[str, Any]:
        """The keyword arguments of an Adam-family constructor for one case (fixed options included)."""
        out: dict[str, Any] = {self.lr: opts.lr}
        if isinstance(self.betas, str):
            out[self.betas] = (opts.beta1, opts.beta2)
        elif self.betas is not None:
            out[self.betas[0]], out[self.betas[1]] = opts.beta1, opts.beta2
        if self.eps is not None:
            out[self.eps] = opts.eps
        values = {Capability.EPS_ROOT: opts.eps_root, Capability.WEIGHT_DECAY: opts.weight_decay,
                  Capability.AMSGRAD: opts.amsgrad, Capability.MAXIMIZE: opts.maximize}
        for cap, name in self.switches.items():
            value = values[cap]
            # a decay defaulting to None (Keras Adam) means "off": pass None for 0, not a zero decay
            out[name] = None if cap is Capability.WEIGHT_DECAY and not value and self.defaults.get(name, 0) is None else value
        out.update(self.fixed)
        return out

    def sgd_kwargs(self, hyper: Mapping[str, Any], maximize: bool) -> dict[str, Any]:
        """The keyword arguments of an SGD-family constructor for one case (``hyper``: Python floats)."""
        out: dict[str, Any] = {self.lr: hyper["lr"], "momentum": hyper["momentum"], "dampening": hyper["dampening"],
                               "nesterov": bool(hyper["nesterov"])}
        if Capability.WEIGHT_DECAY in self.switches:
            out[self.switches[Capability.WEIGHT_DECAY]] = hyper["weight_decay"]
        if Capability.MAXIMIZE in self.switches:
            out[self.switches[Capability.MAXIMIZE]] = maximize
        out.update(self.fixed)
        return out


def constructor_map(obj: Any, options: Mapping[str, Any] | None = None, *, name: str | None = None,
                    allow_sgd: bool = False) -> ConstructorMap:
    """Read ``obj``'s signature into a :class:`ConstructorMap`.

    Raises:
        InvalidArgumentError: the constructor takes no learning rate, betas or eps (it is not an
            Adam-family optimizer, nor an SGD-family one when ``allow_sgd``), or an option names a
            parameter it does not take or one of the mapped hyperparameters.
    """
    label = name or _qualname(obj)
    params = accepted_parameters(obj)
    lr = next((n for n in _LR if n in params), None)
    if lr is None:
        raise InvalidArgumentError("target", label, "an optimizer whose constructor takes lr or learning_rate")
    betas: str | tuple[str, str] | None = "betas" if "betas" in params else next(
        (pair for pair in _BETA_PAIRS if pair[0] in params and pair[1] in params), None)
    eps = next((n for n in _EPS if n in params), None)
    switches = {cap: n for cap, n in _SWITCHES.items() if n in params}
    if betas is not None and eps is not None:
        family = Family.ADAM
        mapped = {lr, eps, *switches.values(), *((betas,) if isinstance(betas, str) else betas)}
    elif allow_sgd and all(n in params for n in _SGD_NAMES):
        family = Family.SGD
        switches = {c: n for c, n in switches.items() if c in (Capability.WEIGHT_DECAY, Capability.MAXIMIZE)}
        switches[Capability.DAMPENING] = "dampening"
        mapped = {lr, *_SGD_NAMES, *switches.values()}
    else:
        what = "betas (or beta1/beta2, b1/b2, beta_1/beta_2) and eps (or epsilon)"
        if allow_sgd:
            what += ", or an SGD with momentum, dampening and nesterov"
        raise InvalidArgumentError("target", label, f"an Adam-family optimizer whose constructor takes {what}; "
                                   f"it takes {', '.join(params) or 'nothing'}")
    fixed = _checked_options(options, mapped, params, label)
    defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    return ConstructorMap(label, family, lr, betas if family is Family.ADAM else None,
                          eps if family is Family.ADAM else None, switches, fixed, defaults)


def fixed_options(obj: Any, options: Mapping[str, Any] | None, mapped: tuple[str, ...], *,
                  name: str | None = None) -> dict[str, Any]:
    """``options`` checked against ``obj``'s constructor, for an adapter that passes ``mapped`` itself
    (optax.sgd, Keras SGD).

    Raises:
        InvalidArgumentError: an option names one of ``mapped`` or a parameter the constructor does not take.
    """
    label = name or _qualname(obj)
    params = accepted_parameters(obj)
    return _checked_options(options, mapped, params, label)


def parse_option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` with VALUE read as true/false/none, an int, a float, or else a string.

    Raises:
        InvalidArgumentError: no ``=`` or an empty name.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise InvalidArgumentError("option", text, "NAME=VALUE with NAME a constructor argument (e.g. foreach=false)")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return name, lowered == "true"
    if lowered in ("none", "null"):
        return name, None
    for kind in (int, float):
        try:
            return name, kind(raw)
        except ValueError:
            pass
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
    return name, raw


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """Several ``NAME=VALUE`` options as a dict (a name given twice is an error)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, value = parse_option(item)
        if key in out:
            raise InvalidArgumentError("option", item, f"each name once ({key} is given twice)")
        out[key] = value
    return out


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None) or type(obj).__name__
    return f"{module}:{qual}" if module else qual


def _checked_options(options: Mapping[str, Any] | None, mapped: Any, params: Mapping[str, Any],
                     label: str) -> dict[str, Any]:
    """``options`` as a dict, each naming a constructor parameter of ``label`` (``params``) that is not
    one of the hyperparameters a case sets (``mapped``).

    Raises:
        InvalidArgumentError: an option that is one of ``mapped`` or not a parameter.
    """
    fixed = dict(options or {})
    for key in fixed:
        if key in mapped:
            raise InvalidArgumentError("option", key, "a constructor argument other than the hyperparameters each case "
                                       f"sets ({', '.join(sorted(mapped))})")
        if key not in params:
            raise InvalidArgumentError("option", key, f"a parameter of {label} ({', '.join(sorted(params))})")
    return fixed
