"""The V-trace target as defined (VTRACE-DEF) and the slides' n-step and IS-weighted IMPALA targets."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import enumeration as E
from reference_impls import mdp as M
from reference_impls import returns as R
from verify import strategies as vst
from verify.claims.value_targets._common import (
    CONVENTIONS,
    FAMILY,
    _chain_fixture,
    _consistent_next_values,
    _dyadic_instance,
    _fr,
    _scale,
    _sequences,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# --------------------------------------------------------------------------- VTRACE-DEF


def vtrace_eq1(r: list[Any], v: list[Any], nv: list[Any], ratios: list[Any], term: list[bool], trunc: list[bool],
               gamma: Any, lam: Any, rho_bar: Any, c_bar: Any, pg_rho_bar: Any) -> tuple[list[Any], list[Any]]:
    """IMPALA eq. (1) as a direct sum over each step's episode (no recursion), generic arithmetic:
    v_s = V(x_s) + sum_{t=s}^{e} gamma^{t-s} (prod_{i=s}^{t-1} c_i) delta_t, e = the episode end after s."""
    T = len(r)
    rho = [min(rho_bar, q) for q in ratios]
    c = [lam * min(c_bar, q) for q in ratios]
    disc = [0 if term[t] else gamma for t in range(T)]
    delta = [rho[t] * (r[t] + disc[t] * nv[t] - v[t]) for t in range(T)]
    end = [term[t] or trunc[t] or t == T - 1 for t in range(T)]
    vs: list[Any] = []
    for s in range(T):
        e = next(t for t in range(s, T) if end[t])
        acc = v[s]
        for t in range(s, e + 1):
            prod: Any = 1
            for i in range(s, t):  # prod_{i=s}^{t-1} c_i
                prod = prod * c[i]
            acc = acc + gamma ** (t - s) * prod * delta[t]
        vs.append(acc)
    pg = [min(pg_rho_bar, ratios[s]) * (r[s] + disc[s] * (nv[s] if end[s] else vs[s + 1]) - v[s]) for s in range(T)]
    return vs, pg


@st.composite
def _active_clip_sequences(draw: st.DrawFn) -> dict[str, Any]:
    """Sequences where every clip and trace is active: rho above rho_bar (step 0), a trace c < 1 from a
    ratio below 1 (step 1), rho_bar != c_bar, lam < 1, a termination (step 2) and a truncation (step 4)."""
    x = draw(_sequences(min_T=6, max_T=12))
    rb = draw(st.sampled_from([1.0, 1.5]))
    cb = draw(st.sampled_from([0.6, 0.9]))
    pb = draw(st.sampled_from([0.8, 1.3]))
    lr = x["log_rhos"].copy()
    lr[:, 0] = np.log(2.0 * rb)
    lr[:, 1] = np.log(0.5 * cb)
    te, tr = x["terminated"].copy(), x["truncated"].copy()
    te[:, 2], tr[:, 2] = True, False
    te[:, 4], tr[:, 4] = False, True
    v = x["values"]
    boot = x["next_values"]
    return {**x, "log_rhos": lr, "terminated": te, "truncated": tr,
            "next_values": _consistent_next_values(v, boot, te, tr),
            "gamma": draw(st.sampled_from([0.5, 0.9, 0.99])), "lam": draw(st.sampled_from([0.5, 0.9])),
            "rho_bar": rb, "c_bar": cb, "pg_rho_bar": pb}


@check("property")
def vtrace_def_property(ctx: Context) -> Evidence:
    """R.vtrace (recursion) equals the paper's eq. (1) sum and the pg-advantage definition on inputs where
    every clip and trace is active."""
    worst = [0.0]

    def body(x: dict[str, Any]) -> float:
        r, v, nv, lr, te, tr = (x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated",
                                                "truncated"))
        vs, pg = R.vtrace(r, v, nv, lr, te, tr, x["gamma"], x["lam"], x["rho_bar"], x["c_bar"], x["pg_rho_bar"])
        err = 0.0
        for b in range(vs.shape[0]):
            evs, epg = vtrace_eq1(list(r[b]), list(v[b]), list(nv[b]), list(np.exp(lr[b])), list(te[b]), list(tr[b]),
                                  x["gamma"], x["lam"], x["rho_bar"], x["c_bar"], x["pg_rho_bar"])
            err = max(err, float(np.max(np.abs(vs[b] - evs))), float(np.max(np.abs(pg[b] - epg))))
        rel = err / (_scale(r, v, nv) * 4.0 * vs.shape[-1])
        worst[0] = max(worst[0], rel)
        if rel > 1e-12:
            raise Violation(f"recursion vs eq. (1) differ by {err:.3g}", max_abs_diff=err, rho_bar=x["rho_bar"],
                            c_bar=x["c_bar"], lam=x["lam"])
        return rel

    ev = property_evidence(ctx, _active_clip_sequences(), body,
                           summary="V-trace recursion == eq. (1) sum (vs and pg advantages), every clip and trace "
                                   "active",
                           target_label="residual")
    ev.figures["max_residual"] = worst[0]
    return ev


@check("exact")
def vtrace_def_exact(ctx: Context) -> Evidence:
    """Dyadic inputs with ratios in {1/4, ..., 4}, rho_bar = 2, c_bar = 1/2, pg_rho_bar = 1, gamma = lam = 1/2:
    float64 R.vtrace equals eq. (1) evaluated in exact rationals, bit for bit."""
    rng = ctx.rng()
    n, mismatches = 0, 0
    h = Fraction(1, 2)
    for _ in range(20):
        d = _dyadic_instance(rng, 2, 8)
        d["ratios"][:, 0], d["ratios"][:, 1] = 4.0, 0.25  # rho > rho_bar, c < 1 in every row
        vs, pg = R.vtrace(d["rewards"], d["values"], d["next_values"], np.log(d["ratios"]), d["terminated"],
                          d["truncated"], 0.5, 0.5, 2.0, 0.5, 1.0)
        for b in range(2):
            evs, epg = vtrace_eq1(_fr(d["rewards"][b]), _fr(d["values"][b]), _fr(d["next_values"][b]),
                                  _fr(d["ratios"][b]), list(d["terminated"][b]), list(d["truncated"][b]),
                                  h, h, Fraction(2), h, Fraction(1))
            for t in range(8):
                n += 1
                mismatches += not (Fraction(float(vs[b, t])) == evs[t] and Fraction(float(pg[b, t])) == epg[t])
    return Evidence("exact", mismatches == 0,
                    f"{n} entries: float64 V-trace (vs, pg) equals eq. (1) in exact rationals bit for bit",
                    {"entries": n, "mismatches": mismatches, "seed": ctx.seed})


@check("symbolic")
def vtrace_def_symbolic(ctx: Context) -> Evidence:
    """sympy: Remark 1's recursion equals eq. (1) identically, with symbolic (already clipped) rho_t, c_t,
    rewards, values, bootstraps and gamma, for several episode-end patterns."""
    g = sp.Symbol("gamma", positive=True)
    total = sp.Integer(0)
    patterns = [(1, (), ()), (4, (), ()), (5, (1,), (3,)), (6, (3,), (1,)), (6, (), (2, 4))]
    for T, terms, truncs in patterns:
        r, v, b = sp.symbols(f"r0:{T}"), sp.symbols(f"V0:{T}"), sp.symbols(f"b0:{T}")
        rho, c = sp.symbols(f"rho0:{T}", positive=True), sp.symbols(f"c0:{T}", positive=True)
        te = [t in terms for t in range(T)]
        end = [te[t] or t in truncs or t == T - 1 for t in range(T)]
        nv = [b[t] if end[t] else v[t + 1] for t in range(T)]
        delta = [rho[t] * (r[t] + (0 if te[t] else g * nv[t]) - v[t]) for t in range(T)]
        rec: list[Any] = [None] * T
        for t in reversed(range(T)):
            rec[t] = v[t] + delta[t] + (0 if end[t] else g * c[t] * (rec[t + 1] - v[t + 1]))
        for s in range(T):
            e = next(t for t in range(s, T) if end[t])
            direct = v[s] + sum(g ** (t - s) * sp.Mul(*c[s:t]) * delta[t] for t in range(s, e + 1))
            total += sp.expand(rec[s] - direct) ** 2
    return symbolic_evidence(total, "Remark 1 recursion == eq. (1) sum identically (sympy, 5 episode-end patterns)",
                             patterns=len(patterns))


claim(
    id="VTRACE-DEF",
    title="V-trace: the recursion equals the paper's n-step sum, with clipped rho, traces c, lambda and episode ends",
    statement=r"v_s=V(x_s)+\sum_{t=s}^{s+n-1}\gamma^{t-s}\Big(\prod_{i=s}^{t-1}c_i\Big)\rho_t\big(r_t+\gamma V(x_{t+1})"
              r"-V(x_t)\big)=V(x_s)+\delta_sV+\gamma c_s(v_{s+1}-V(x_{s+1})),\ "
              r"\rho_t=\min(\bar\rho,\tfrac{\pi}{\mu}),\ c_i=\lambda\min(\bar c,\tfrac{\pi}{\mu});\ "
              r"A^{pg}_s=\min(\bar\rho_{pg},\tfrac{\pi}{\mu})(r_s+\gamma v_{s+1}-V(x_s))",
    source=Source("Espeholt et al. (2018) IMPALA, §4.1 eq. (1), Remarks 1-2, §4.2"),
    family=FAMILY,
    expected="verified",
    checks=(vtrace_def_property, vtrace_def_exact, vtrace_def_symbolic),
    conventions=CONVENTIONS,
    notes="Inputs always contain ratios below 1 (so an off-by-one trace product, as in the TRFL/scalable_agent "
          "test oracle `np.prod(cs[s:t-1])`, is visible), ratios above rho_bar, rho_bar != c_bar and lam < 1.",
)


S1 = "001_7cd217662ff5462a.txt"


#: Behaviour policy for the chain fixture (the target is the fixture's pi).
MU_CHAIN = np.array([[0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])


def is_weighted_target(r: np.ndarray, v: np.ndarray, nv: np.ndarray, ratios: np.ndarray, gamma: float,
                       same_baseline: bool) -> np.ndarray:
    """V(x_0) + sum_t gamma^t (prod_{i<t} w_i) w_t (r_t + gamma V(x_{t+1}) - V(x_b)), with V(x_b) = V(x_0) in every
    term (the slide, ``same_baseline=True``) or V(x_t) (IMPALA eq. 1 with untruncated weights)."""
    n = r.shape[-1]
    disc = gamma ** np.arange(n)
    cum = np.cumprod(ratios, axis=-1)  # prod_{i<=t} w_i
    base = v[:, :1] if same_baseline else v
    return v[:, 0] + np.sum(disc * cum * (r + gamma * nv - base), axis=-1)


def _expected_target(mdp: M.FiniteMDP, pi: np.ndarray, mu: np.ndarray, V: np.ndarray, horizon: int,
                     same_baseline: bool) -> tuple[np.ndarray, np.ndarray, Any]:
    tr = E.enumerate_trajectories(mdp, mu, horizon)
    s, a = tr.states.astype(np.int64), tr.actions.astype(np.int64)
    x = s[:, :-1]
    tgt = is_weighted_target(mdp.rewards[x, a], V[x], V[s[:, 1:]], pi[x, a] / mu[x, a], mdp.gamma, same_baseline)
    den = np.bincount(s[:, 0], weights=tr.probs, minlength=mdp.n_states)
    mean = np.bincount(s[:, 0], weights=tr.probs * tgt, minlength=mdp.n_states) / den
    return mean, tgt, tr


@check("exact")
def is_target_as_written_exact(ctx: Context) -> Evidence:
    """Exact enumeration of every behaviour trajectory (H = 3) on the 3-state chain, target pi, behaviour mu, at
    V = V^pi: the slide's IS-weighted target (V(x_s) in every TD error) has E_mu[target | x_0] != V^pi(x_0)."""
    mdp, pi = _chain_fixture()
    V = M.state_values(mdp, pi)
    mean, _, _ = _expected_target(mdp, pi, MU_CHAIN, V, 3, same_baseline=True)
    gap = float(np.max(np.abs(mean - V)))
    return Evidence("exact", bool(gap < 1e-12), "E_mu[slide's IS target | x_0] vs V^pi(x_0) at V = V^pi (H = 3)",
                    {"bias_per_state": (mean - V).tolist(), "V_pi": V.tolist(), "max_bias": gap},
                    counterexample={"bias_per_state": (mean - V).tolist()} if gap >= 1e-12 else None)


@check("symbolic")
def is_target_as_written_symbolic(ctx: Context) -> Evidence:
    """sympy, n = 2 with symbolic ratios, rewards and values: the slide's target minus the same sum with V(x_t) in
    term t is gamma w_0 w_1 (V_1 - V_0), not identically 0."""
    g = sp.Symbol("gamma", positive=True)
    w, r, V = sp.symbols("w0:2", positive=True), sp.symbols("r0:2"), sp.symbols("V0:3")
    written = V[0] + sum(g**t * sp.Mul(*w[: t + 1]) * (r[t] + g * V[t + 1] - V[0]) for t in range(2))
    fixed = V[0] + sum(g**t * sp.Mul(*w[: t + 1]) * (r[t] + g * V[t + 1] - V[t]) for t in range(2))
    ev = symbolic_evidence(sp.expand(written - fixed), "slide's IS target minus the telescoping one, n = 2")
    ev.figures["difference"] = str(sp.factor(sp.expand(written - fixed)))
    return ev


IS_TARGET_QUOTE = (r"$$V(x_s) = V(x_s) + \sum_{t=s}^{s+n-1} \gamma^{t-s} \left(\prod_{i=s}^{t-1} "
                   r"\frac{\pi_{\theta'}(a_i|x_i)}{\pi_{\theta}(a_i|x_i)} \right) \frac{\pi_{\theta'}(a_t|x_t)}"
                   r"{\pi_{\theta}(a_t|x_t)} (r_t + \gamma V(x_{t+1}) - V(x_s))$$")


claim(
    id="SEED-IMPALA-IS-TARGET",
    title="Slides: the importance-weighted n-step target with V(x_s) in every TD error",
    statement=r"v_s=V(x_s)+\sum_{t=s}^{s+n-1}\gamma^{t-s}\Big(\prod_{i=s}^{t-1}w_i\Big)w_t\big(r_t+\gamma V(x_{t+1})"
              r"-V(x_s)\big)\ \text{has }\mathbb E_\mu[v_s|x_s]=V^\pi(x_s)\text{ at }V=V^\pi",
    source=Source(seed_citation(S1, "line 798 ('STATE DISTRIBUTION CORRECTION: Reweight future state "
                                    "probabilities')"), quote=IS_TARGET_QUOTE, seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="refuted",
    checks=(is_target_as_written_exact, is_target_as_written_symbolic),
    conventions=(*CONVENTIONS, "w_i = pi_theta'(a_i|x_i) / pi_theta(a_i|x_i), pi_theta the behaviour"),
    reading="The slide presents the line as the off-policy (importance-weighted) version of its n-step target, so it "
            "is read as a target whose behaviour-policy expectation is the new policy's value. The V(x_s) in every "
            "TD error is not a notational slip the rule can read away: it changes the value the target estimates "
            "(the same error as SEED-IMPALA-NSTEP-TARGET, which this line reduces to at w = 1).",
    notes="With V(x_t) in term t the sum telescopes and the weighted target is unbiased for V^pi (corrected claim); "
          "IMPALA then truncates the weights (V-trace).",
)


@check("exact")
def is_target_corrected_exact(ctx: Context) -> Evidence:
    """Exact enumeration (H = 3, chain fixture): with V(x_t) in term t the target equals the reference R.vtrace with
    untruncated levels on every trajectory, and E_mu[target | x_0] == V^pi(x_0) at V = V^pi."""
    mdp, pi = _chain_fixture()
    V = M.state_values(mdp, pi)
    mean, tgt, tr = _expected_target(mdp, pi, MU_CHAIN, V, 3, same_baseline=False)
    s, a = tr.states.astype(np.int64), tr.actions.astype(np.int64)
    x = s[:, :-1]
    trunc = np.zeros(a.shape, dtype=bool)
    trunc[:, -1] = True
    vs, _ = R.vtrace(mdp.rewards[x, a], V[x], V[s[:, 1:]], np.log(pi[x, a]) - np.log(MU_CHAIN[x, a]),
                     np.zeros(a.shape, dtype=bool), trunc, mdp.gamma, 1.0, 1e12, 1e12, 1.0)
    path = float(np.max(np.abs(vs[:, 0] - tgt)))
    gap = float(np.max(np.abs(mean - V)))
    return Evidence("exact", bool(gap < 1e-12 and path < 1e-12),
                    "corrected IS target == R.vtrace (untruncated) per trajectory; E_mu[target | x_0] == V^pi",
                    {"max_path_gap_vs_vtrace": path, "max_bias": gap, "trajectories": len(tr)})


@check("property")
def is_target_corrected_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs with target pi and behaviour mu (H = 2): E_mu[corrected IS target | x_0] == V^pi(x_0) at
    V = V^pi (exact enumeration); targets the residual."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray]:
        m = draw(vst.finite_mdps(n_states=st.integers(1, 3), n_actions=st.integers(1, 3), initial="random"))
        return m, draw(vst.policies(m.n_states, m.n_actions, floor=0.02)), draw(
            vst.policies(m.n_states, m.n_actions, floor=0.05))

    def body(x: tuple[M.FiniteMDP, np.ndarray, np.ndarray]) -> float | None:
        m, pi, mu = x
        if np.any(m.initial <= 0):
            return None
        V = M.state_values(m, pi)
        mean, _, _ = _expected_target(m, pi, mu, V, 2, same_baseline=False)
        err = float(np.max(np.abs(mean - V))) / max(1.0, float(np.max(np.abs(m.rewards))) / (1 - m.gamma))
        if err > 1e-10:
            raise Violation(f"E_mu[target] - V^pi = {err:.3g}")
        return err

    return property_evidence(ctx, strat(), body, target_label="residual",
                             summary="E_mu[IS-weighted target with V(x_t) in term t] == V^pi")


claim(
    id="SEED-IMPALA-IS-TARGET-CORRECTED",
    title="Corrected: the IS-weighted n-step target uses V(x_t) in term t and is unbiased for V^pi",
    statement=r"v_s=V(x_s)+\sum_{t=s}^{s+n-1}\gamma^{t-s}\Big(\prod_{i=s}^{t-1}w_i\Big)w_t\big(r_t+\gamma V(x_{t+1})"
              r"-V(x_t)\big),\ \mathbb E_\mu[v_s|x_s]=V^\pi(x_s)\text{ at }V=V^\pi",
    source=Source("Espeholt et al. (2018) IMPALA, eq. (1) with rho_bar = c_bar = infinity; Precup, Sutton & Singh "
                  "(2000)"),
    family=FAMILY,
    kind="correction",
    corrects="SEED-IMPALA-IS-TARGET",
    expected="verified",
    checks=(is_target_corrected_exact, is_target_corrected_property),
    conventions=CONVENTIONS,
    uses=("SEED-IMPALA-NSTEP-TARGET-CORRECTED",),
)
