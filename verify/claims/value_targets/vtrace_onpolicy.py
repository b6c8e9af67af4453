"""V-trace reduces to the on-policy n-step return (VTRACE-ONPOLICY-REDUCTION)."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import enumeration as E
from reference_impls import mdp as M
from reference_impls import returns as R
from verify.claims.value_targets._common import (
    CONVENTIONS,
    FAMILY,
    SEED,
    _chain_fixture,
    _fixed_boundary_example,
    _scale,
    _sequences,
    enumerated_vtrace_mean,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# --------------------------------------------------------------------------- VTRACE-ONPOLICY-REDUCTION


@check("property")
def vtrace_onpolicy_property(ctx: Context) -> Evidence:
    """pi = mu (log_rhos = 0), rho_bar, c_bar >= 1: vs = R.discounted_returns at lam = 1 (eq. 2) and
    vs = R.lambda_returns for lam < 1 (Remark 2)."""
    worst = [0.0]

    @st.composite
    def strat(draw: st.DrawFn) -> dict[str, Any]:
        x = draw(_sequences())
        return {**x, "rho_bar": draw(st.sampled_from([1.0, 2.0, np.inf])), "c_bar": draw(st.sampled_from([1.0, 1.5]))}

    def body(x: dict[str, Any]) -> float:
        r, v, nv, te, tr, g, lam = (x[k] for k in ("rewards", "values", "next_values", "terminated", "truncated",
                                                    "gamma", "lam"))
        zero = np.zeros_like(r)
        vs1, _ = R.vtrace(r, v, nv, zero, te, tr, g, 1.0, x["rho_bar"], x["c_bar"], 1.0)
        vsl, _ = R.vtrace(r, v, nv, zero, te, tr, g, lam, x["rho_bar"], x["c_bar"], 1.0)
        e1 = float(np.max(np.abs(vs1 - R.discounted_returns(r, nv, te, tr, g))))
        el = float(np.max(np.abs(vsl - R.lambda_returns(r, v, nv, te, tr, g, lam))))
        rel = max(e1, el) / (_scale(r, v, nv) * r.shape[-1])
        worst[0] = max(worst[0], rel)
        if rel > 1e-12:
            raise Violation(f"on-policy V-trace differs from the n-step / lambda return by {max(e1, el):.3g}",
                            lam1_gap=e1, lam_gap=el, lam=lam)
        return rel

    ev = property_evidence(ctx, strat(), body, examples=[{**_fixed_boundary_example(), "rho_bar": 1.0, "c_bar": 1.0}],
                           summary="on-policy V-trace == bootstrapped n-step return (lam=1) and == lambda-return "
                                   "(lam<1), within 1e-12 relative", target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


@check("symbolic")
def vtrace_onpolicy_symbolic(ctx: Context) -> Evidence:
    """sympy, n = 1..6: V(x_s) + sum gamma^{t-s}(r_t + gamma V_{t+1} - V_t)
    - (sum gamma^{t-s} r_t + gamma^n V_{s+n}) = 0."""
    g = sp.Symbol("gamma", positive=True)
    total = sp.Integer(0)
    for n in range(1, 7):
        r, V = sp.symbols(f"r0:{n}"), sp.symbols(f"V0:{n + 1}")
        vs = V[0] + sum(g**t * (r[t] + g * V[t + 1] - V[t]) for t in range(n))
        total += sp.expand(vs - (sum(g**t * r[t] for t in range(n)) + g**n * V[n])) ** 2
    return symbolic_evidence(total, "on-policy V-trace telescopes to the n-step return, n = 1..6 (sympy)")


claim(
    id="VTRACE-ONPOLICY-REDUCTION",
    title="On-policy V-trace is the n-step bootstrapped return (and TD(lambda) with c = lambda)",
    statement=r"\pi=\mu,\ \bar c\ge1:\ v_s=\sum_{t=s}^{s+n-1}\gamma^{t-s}r_t+\gamma^nV(x_{s+n});"
              r"\ c_i=\lambda\min(\bar c,\pi/\mu)\Rightarrow v_s=G^\lambda_s",
    source=Source("Espeholt et al. (2018) IMPALA, §4.1 eq. (2) and Remark 2"),
    family=FAMILY,
    expected="verified",
    checks=(vtrace_onpolicy_property, vtrace_onpolicy_symbolic),
    conventions=CONVENTIONS,
    assumptions=("next_values[t] = values[t+1] inside episodes",),
    uses=("VTRACE-DEF", "GAE-IDENTITIES"),
)


# --------------------------------------------------------------------------- seed statements (S1, IMPALA slides)

NSTEP_QUOTE = r"$$V(x_s) = V(x_s) + \sum_{t=s}^{s+n-1} \gamma^{t-s} (r_t + \gamma V(x_{t+1}) - V(x_s))$$"


def _as_written_target(r: np.ndarray, v: np.ndarray, nv: np.ndarray, gamma: float) -> np.ndarray:
    """The slide's target at s = 0: V(x_0) + sum_t gamma^t (r_t + gamma V(x_{t+1}) - V(x_0))."""
    n = r.shape[-1]
    w = gamma ** np.arange(n)
    return v[:, 0] + np.sum(w * (r + gamma * nv - v[:, :1]), axis=-1)


@check("symbolic")
def seed_nstep_symbolic(ctx: Context) -> Evidence:
    """sympy, n = 2: the slide's target minus the n-step return is gamma (V_1 - V_0), not 0."""
    g = sp.Symbol("gamma", positive=True)
    r, V = sp.symbols("r0:2"), sp.symbols("V0:3")
    written = V[0] + sum(g**t * (r[t] + g * V[t + 1] - V[0]) for t in range(2))
    nstep = r[0] + g * r[1] + g**2 * V[2]
    ev = symbolic_evidence(sp.expand(written - nstep), "slide's n-step target (V(x_s) in every term) minus the n-step "
                                                      "return, n = 2")
    ev.figures["difference"] = str(sp.factor(sp.expand(written - nstep)))
    return ev


@check("exact")
def seed_nstep_exact(ctx: Context) -> Evidence:
    """Exact expectation over every on-policy trajectory (H = 3) with V = V^pi: the slide's target is biased
    (E[target] != V^pi) while R.vtrace on-policy (the corrected target) is unbiased."""
    mdp, pi = _chain_fixture()
    V = M.state_values(mdp, pi)
    tr = E.enumerate_trajectories(mdp, pi, 3)
    s, a = tr.states.astype(np.int64), tr.actions.astype(np.int64)
    r, v, nv = mdp.rewards[s[:, :-1], a], V[s[:, :-1]], V[s[:, 1:]]
    den = np.bincount(s[:, 0], weights=tr.probs, minlength=3)
    written = np.bincount(s[:, 0], weights=tr.probs * _as_written_target(r, v, nv, mdp.gamma), minlength=3) / den
    gap = float(np.max(np.abs(written - V)))
    return Evidence("exact", gap < 1e-12,
                    "E_pi[slide target | x_0] vs V^pi(x_0) at V = V^pi (3-state fixture, H = 3, exact enumeration)",
                    {"max_bias": gap, "bias_per_state": (written - V).tolist(), "V_pi": V.tolist()},
                    counterexample={"bias_per_state": (written - V).tolist()} if gap >= 1e-12 else None)


claim(
    id="SEED-IMPALA-NSTEP-TARGET",
    title="Slides: the n-step TD value target with V(x_s) in every term",
    statement=r"V(x_s)=V(x_s)+\sum_{t=s}^{s+n-1}\gamma^{t-s}\big(r_t+\gamma V(x_{t+1})-V(x_s)\big)",
    source=Source(seed_citation(SEED, "line 783 (again at line 792, 'IMPALA')"), quote=NSTEP_QUOTE,
                  seed_file=SEED),
    family=FAMILY,
    kind="seed-statement",
    expected="refuted",
    checks=(seed_nstep_symbolic, seed_nstep_exact),
    conventions=CONVENTIONS,
    notes="With V(x_s) in every term the sum does not telescope: for n = 2 it exceeds the n-step return by "
          "gamma (V(x_{s+1}) - V(x_s)), and its on-policy expectation at V = V^pi is not V^pi. The IS-weighted "
          "line on the next slide repeats the V(x_s) term. The left side also reuses V(x_s) for the target v_s.",
)


@check("symbolic")
def corrected_nstep_symbolic(ctx: Context) -> Evidence:
    """sympy, n = 1..6: with V(x_t) in term t the sum telescopes to the n-step return."""
    return vtrace_onpolicy_symbolic(ctx)


@check("exact")
def corrected_nstep_exact(ctx: Context) -> Evidence:
    """Same fixture and enumeration as the refutation: on-policy R.vtrace with V = V^pi has E[v_0 | x_0] = V^pi,
    and equals R.discounted_returns (the n-step return) on every trajectory."""
    mdp, pi = _chain_fixture()
    V = M.state_values(mdp, pi)
    mean = enumerated_vtrace_mean(mdp, pi, pi, V, 3, 1.0, 1.0, 1.0)
    tr = E.enumerate_trajectories(mdp, pi, 3)
    s, a = tr.states.astype(np.int64), tr.actions.astype(np.int64)
    r, v, nv = mdp.rewards[s[:, :-1], a], V[s[:, :-1]], V[s[:, 1:]]
    no = np.zeros(a.shape, dtype=bool)
    vs, _ = R.vtrace(r, v, nv, np.zeros(a.shape), no, no, mdp.gamma)
    ret = R.discounted_returns(r, nv, no, no, mdp.gamma)
    gap, path = float(np.max(np.abs(mean - V))), float(np.max(np.abs(vs - ret)))
    return Evidence("exact", gap < 1e-12 and path < 1e-12,
                    "E_pi[corrected target | x_0] == V^pi and per-trajectory target == n-step return (H = 3)",
                    {"max_bias": gap, "max_path_gap": path, "trajectories": len(tr)})


claim(
    id="SEED-IMPALA-NSTEP-TARGET-CORRECTED",
    title="Corrected: the n-step TD target uses V(x_t) in term t and equals the n-step return",
    statement=r"v_s=V(x_s)+\sum_{t=s}^{s+n-1}\gamma^{t-s}\big(r_t+\gamma V(x_{t+1})-V(x_t)\big)"
              r"=\sum_{t=s}^{s+n-1}\gamma^{t-s}r_t+\gamma^nV(x_{s+n})",
    source=Source("Espeholt et al. (2018) IMPALA, eqs. (1)-(2) with pi = mu"),
    family=FAMILY,
    kind="correction",
    corrects="SEED-IMPALA-NSTEP-TARGET",
    expected="verified",
    checks=(corrected_nstep_symbolic, corrected_nstep_exact),
    conventions=CONVENTIONS,
    uses=("VTRACE-ONPOLICY-REDUCTION",),
)
