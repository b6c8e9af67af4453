"""Shared instance generators for the derivation chains (exact, high-precision and hypothesis-searched)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import mdp as M
from verify.claims.policy_gradient._common import sympy_eval, sympy_two_state_mdp
from verify.derivation import Comparison
from verify.harness import property_evidence
from verify.registry import Context


def searched(ctx: Context, strategy: st.SearchStrategy[Any], fn: Callable[[Any], tuple[list[Any], list[Any]] | None],
             summary: str, *, kind: str = "property", tol: float = 1e-10, scale: Callable[[Any], float] | None = None,
             examples: tuple[Any, ...] = ()) -> Comparison:
    """Draw instances with hypothesis (seeded from the context; ``hypothesis.target`` pushes the
    ratio lhs/rhs upward, toward the tight end of an inequality) and collect both sides of the line.

    ``fn(x)`` returns ``(lhs_values, rhs_values)`` for one drawn instance (several pairs allowed:
    e.g. one per time step) or None to skip it. The relation is applied later (by ``judge``).
    """
    lhs: list[Any] = []
    rhs: list[Any] = []
    scales: list[float] = []
    described: list[Any] = []

    def body(x: Any) -> float | None:
        out = fn(x)
        if out is None:
            return None
        a, b = out
        sc = 1.0 if scale is None else float(scale(x))
        best = None
        for u, v in zip(a, b):
            lhs.append(u)
            rhs.append(v)
            scales.append(sc)
            described.append(_describe(x))
            if float(v) > 0:
                r = float(u) / float(v)
                best = r if best is None else max(best, r)
        return best

    ev = property_evidence(ctx, strategy, body, summary=summary, examples=list(examples))
    figs = {k: v for k, v in ev.figures.items() if k in ("examples_run", "seed", "max_examples")}
    return Comparison(kind, lhs, rhs, summary, tol=tol, scale=scales, instances=described, figures=figs)


def _describe(x: Any) -> Any:
    """A short JSON-able description of a drawn instance (for counterexamples)."""
    if isinstance(x, tuple):
        return [_describe(v) for v in x[:6]]
    if isinstance(x, M.FiniteMDP):
        return {"S": x.n_states, "A": x.n_actions, "gamma": x.gamma}
    if isinstance(x, np.ndarray):
        return np.round(x, 6).tolist() if x.size <= 12 else f"array{list(x.shape)}"
    if isinstance(x, float | int | str):
        return x
    return str(x)[:80]


def random_instances(ctx: Context, n: int, S: int = 3, A: int = 2,
                     gammas: tuple[float, ...] = (0.5, 0.9)) -> list[tuple[M.FiniteMDP, np.ndarray, np.ndarray]]:
    """``n`` (mdp, logits_old, logits_new) triples from the context's generator."""
    rng = ctx.rng("instances")
    out = []
    for k in range(n):
        mdp = M.random_mdp(rng, S, A, gammas[k % len(gammas)])
        out.append((mdp, rng.normal(size=(S, A)), rng.normal(size=(S, A))))
    return out


@functools.lru_cache(maxsize=1)
def sympy_pair() -> dict[str, Any]:
    """The 2-state rational MDP with two symbolic policies (old, new): values, visitation, J."""
    m = sympy_two_state_mdp()
    p0, p1, q0, q1 = sp.symbols("p0 p1 q0 q1", positive=True)
    old = [[p0, 1 - p0], [p1, 1 - p1]]
    new = [[q0, 1 - q0], [q1, 1 - q1]]
    return {"m": m, "old": old, "new": new, "eo": sympy_eval(m, old), "en": sympy_eval(m, new)}


@functools.lru_cache(maxsize=1)
def sympy_logit_pair() -> dict[str, Any]:
    """The 2-state MDP with 2-action softmax policies in u = exp(x) (new) and v = exp(x_old)."""
    m = sympy_two_state_mdp()
    u = sp.symbols("u0 u1", positive=True)
    v = sp.symbols("v0 v1", positive=True)
    new = [[u[s] / (1 + u[s]), 1 / (1 + u[s])] for s in range(2)]
    old = [[v[s] / (1 + v[s]), 1 / (1 + v[s])] for s in range(2)]
    return {"m": m, "u": u, "v": v, "new": new, "old": old, "en": sympy_eval(m, new), "eo": sympy_eval(m, old)}


def weights(n: int) -> list[sp.Rational]:
    """Fixed generic rational weights: a vector identity is checked through w . (lhs - rhs)."""
    return [sp.Rational(3 + 2 * i, 7 + 5 * i) * (-1) ** i for i in range(n)]


def scale_of(mdp: M.FiniteMDP) -> float:
    return max(1.0, float(np.max(np.abs(mdp.rewards))) / (1.0 - mdp.gamma))


def on_instances(ctx: Context, n: int, lhs: Callable[[M.FiniteMDP, np.ndarray], np.ndarray],
                 rhs: Callable[[M.FiniteMDP, np.ndarray], np.ndarray], text: str, tol: float) -> Comparison:
    """An exact comparison of ``lhs(mdp, z)`` and ``rhs(mdp, z)`` (arrays over the logits' entries) on ``n``
    :func:`random_instances`, each entry in units of its MDP's :func:`scale_of`."""
    left: list[float] = []
    right: list[float] = []
    sc: list[float] = []
    for mdp, z, _ in random_instances(ctx, n):
        left.extend(np.ravel(lhs(mdp, z)).tolist())
        right.extend(np.ravel(rhs(mdp, z)).tolist())
        sc.extend([scale_of(mdp)] * z.size)
    return Comparison("exact", left, right, text, tol=tol, scale=sc)
