"""Retrace: the contraction (RETRACE-CONTRACTION) and the target against Munos et al. eq. (3) (RETRACE-DEF)."""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import mdp as M
from reference_impls import returns as R
from verify.claims.value_targets._common import (
    CONVENTIONS,
    FAMILY,
    _mdp_pi_mu,
    _sequences,
    _vscale,
    enumerated_retrace_mean,
    retrace_affine,
)
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim

# --------------------------------------------------------------------------- RETRACE-CONTRACTION


@check("exact")
def retrace_contraction_exact(ctx: Context) -> Evidence:
    """Random MDPs: R Q^pi = Q^pi; ||L||_inf <= gamma with the row sums equal to eta(x,a) = 1 - (1-gamma)
    E_mu[sum_t gamma^t prod c]; equality ||L|| = gamma at lam = 0 (so gamma shrunk by 1e-6 fails there);
    negative control: untruncated traces c = 1 (naive Q(lambda)) exceed gamma on a far-off-policy fixture;
    E_mu[R.retrace(Q^pi)] = Q^pi by enumeration."""
    rng = ctx.rng()
    fp, worst_ratio, eta_gap, enum_gap = 0.0, 0.0, 0.0, 0.0
    for k in range(12):
        mdp = M.random_mdp(rng, 3, 2, [0.5, 0.9][k % 2])
        pi, mu = M.softmax(2 * rng.normal(size=(3, 2))), M.softmax(rng.normal(size=(3, 2)))
        lam = float(rng.choice([0.5, 1.0]))
        L, b, Pc = retrace_affine(mdp, pi, mu, lam)
        Q = M.action_values(mdp, pi)
        fp = max(fp, float(np.max(np.abs(L @ Q.reshape(-1) + b - Q.reshape(-1)))) / _vscale(mdp))
        rows = np.sum(np.abs(L), axis=1)
        n = Pc.shape[0]
        eta = 1 - (1 - mdp.gamma) * np.linalg.solve(np.eye(n) - mdp.gamma * Pc, np.ones(n))
        eta_gap = max(eta_gap, float(np.max(np.abs(rows - eta))))
        worst_ratio = max(worst_ratio, float(np.max(rows)) / mdp.gamma)
        enum_gap = max(enum_gap, float(np.max(np.abs(enumerated_retrace_mean(mdp, pi, mu, Q, 3, lam) - Q)))
                       / _vscale(mdp))
    L0, _, _ = retrace_affine(mdp, pi, mu, 0.0)
    eq_ratio = float(np.max(np.sum(np.abs(L0), axis=1))) / mdp.gamma
    mutated_fails = eq_ratio > 1 - 1e-6  # the bound gamma shrunk by 1e-6 is violated at lam = 0
    # negative control: mu far from pi, traces c = 1 (not truncated at pi/mu)
    P = np.zeros((2, 2, 2))
    P[:, 0, 0], P[:, 1, 1] = 1.0, 1.0
    fx = M.FiniteMDP(P, np.zeros((2, 2)), np.array([0.5, 0.5]), 0.9)
    pi_fx, mu_fx = np.array([[0.99, 0.01], [0.01, 0.99]]), np.array([[0.01, 0.99], [0.99, 0.01]])
    Lnc, _, _ = retrace_affine(fx, pi_fx, mu_fx, traces=np.ones((2, 2)))
    naive = float(np.max(np.sum(np.abs(Lnc), axis=1)))
    passed = (fp < 1e-12 and worst_ratio <= 1 + 1e-12 and eta_gap < 1e-12 and abs(eq_ratio - 1) < 1e-12
              and naive > fx.gamma and enum_gap < 1e-12 and mutated_fails)
    return Evidence("exact", passed,
                    "Q^pi fixed point, modulus <= gamma with row sums = eta(x,a), equality at lam=0, naive c=1 traces "
                    "exceed gamma, enumerated E_mu[R.retrace(Q^pi)] = Q^pi (12 random MDPs, H=3)",
                    {"max_fixed_point_residual": fp, "worst_modulus_over_gamma": worst_ratio,
                     "max_row_sum_minus_eta": eta_gap, "lam0_modulus_over_gamma": eq_ratio,
                     "mutated_bound_fails": bool(mutated_fails),
                     "naive_trace_modulus": naive, "naive_fixture_gamma": fx.gamma,
                     "max_enumerated_gap": enum_gap, "seed": ctx.seed})


@check("property")
def retrace_contraction_property(ctx: Context) -> Evidence:
    """Hypothesis MDPs: R Q^pi = Q^pi and ||L||_inf / gamma <= 1 (searched upward), lam in [0, 1];
    E_mu[R.retrace] at Q^pi is Q^pi by enumeration (H = 2)."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[Any, ...]:
        m, pi, mu = draw(_mdp_pi_mu(max_states=3, max_actions=2))
        return m, pi, mu, draw(st.floats(0.0, 1.0))

    def body(x: tuple[Any, ...]) -> float | None:
        m, pi, mu, lam = x
        L, b, _ = retrace_affine(m, pi, mu, lam)
        Q = M.action_values(m, pi)
        fp = float(np.max(np.abs(L @ Q.reshape(-1) + b - Q.reshape(-1)))) / _vscale(m)
        en = float(np.max(np.abs(enumerated_retrace_mean(m, pi, mu, Q, 2, lam) - Q))) / _vscale(m)
        mod = float(np.max(np.sum(np.abs(L), axis=1)))
        if fp > 1e-10 or en > 1e-10 or mod > m.gamma + 1e-12:
            raise Violation(f"fixed-point residual {fp:.3g}, enumerated gap {en:.3g}, modulus {mod:.6g} vs gamma "
                            f"{m.gamma}", lam=lam)
        return mod / m.gamma if m.gamma > 0 else None

    return property_evidence(ctx, strat(), body, summary="Retrace: Q^pi fixed point and modulus <= gamma",
                             target_label="ratio")


claim(
    id="RETRACE-CONTRACTION",
    title="Retrace contracts to Q^pi with modulus at most gamma, whatever the traces in [0, pi/mu]",
    statement=r"\mathcal RQ(x,a)=Q(x,a)+\mathbb E_\mu\Big[\sum_{t\ge0}\gamma^t\Big(\prod_{s=1}^tc_s\Big)"
              r"\big(r_t+\gamma\mathbb E_\pi Q(x_{t+1},\cdot)-Q(x_t,a_t)\big)\Big],\ "
              r"c_s=\lambda\min(1,\tfrac{\pi}{\mu}):"
              r"\ \|\mathcal RQ-Q^\pi\|_\infty\le\gamma\|Q-Q^\pi\|_\infty",
    source=Source("Munos, Stepleton, Harutyunyan & Bellemare (2016), arXiv:1606.02647, eq. (3)-(4), Theorem 1"),
    family=FAMILY,
    expected="verified",
    checks=(retrace_contraction_exact, retrace_contraction_property),
    conventions=CONVENTIONS,
    assumptions=("mu > 0, gamma < 1", "traces c_s in [0, pi/mu]"),
    notes="The statement checked here is the operator identity in exact matrix form.",
)


# --------------------------------------------------------------------------- RETRACE-DEF


def retrace_direct_sum(r: np.ndarray, q: np.ndarray, nq: np.ndarray, log_rhos: np.ndarray, term: np.ndarray,
                       trunc: np.ndarray, gamma: float, lam: float, c_bar: float) -> np.ndarray:
    """Munos et al. (2016) eq. (3) summed directly for one sequence, written independently of the reference:
    G_s = Q_s + sum_{t=s}^{e(s)} gamma^{t-s} (prod_{i=s+1}^{t} c_i) delta_t, with c_i = lam min(c_bar, rho_i),
    delta_t = r_t + gamma (1 - terminated_t) E_pi Q(x_{t+1}) - Q_t and e(s) the first episode end at or after s
    (or T - 1)."""
    T = len(r)
    out = np.empty(T)
    for s in range(T):
        total, coef = 0.0, 1.0
        for t in range(s, T):
            if t > s:
                coef *= gamma * lam * min(c_bar, math.exp(float(log_rhos[t])))
            delta = r[t] + (0.0 if term[t] else gamma * nq[t]) - q[t]
            total += coef * delta
            if term[t] or trunc[t]:
                break
        out[s] = q[s] + total
    return out


@check("property")
def retrace_def_direct_sum(ctx: Context) -> Evidence:
    """Hypothesis sequences with ratios above c_bar (log rho in [-3, 3]), c_bar in {0.5, 0.8, 1.5, 3} (not 1),
    lambda < 1 allowed, terminations and truncations: R.retrace, the loop ground truth and the torch mirror all
    equal the direct sum of eq. (3)."""
    torch: Any = None
    TR: Any = None
    try:
        torch = importlib.import_module("torch")
        TR = importlib.import_module("reference_impls.torch.returns")
    except ImportError:  # pragma: no cover - torch is installed in CI
        torch = None

    @st.composite
    def strat(draw: st.DrawFn) -> dict[str, Any]:
        x = draw(_sequences(min_T=2, max_T=8))
        B, T = x["rewards"].shape
        x["log_rhos"] = np.array(draw(st.lists(st.floats(-3.0, 3.0), min_size=B * T, max_size=B * T))).reshape(B, T)
        x["c_bar"] = draw(st.sampled_from([0.5, 0.8, 1.5, 3.0]))
        return x

    backends = (["numba"] if R._HAVE_NUMBA else []) + ["numpy", "loop"]
    paths = backends + (["torch"] if torch is not None else [])

    def body(x: dict[str, Any]) -> float:
        args = (x["rewards"], x["values"], x["next_values"], x["log_rhos"], x["terminated"], x["truncated"])
        g, lam, cb = x["gamma"], x["lam"], x["c_bar"]
        r, q, nq, lr, te, tr = args
        want = np.stack([retrace_direct_sum(r[b], q[b], nq[b], lr[b], te[b], tr[b], g, lam, cb)
                         for b in range(r.shape[0])])
        got = {b: R.retrace(*args, g, lam, cb, backend=b) for b in backends}
        if torch is not None:
            t = [torch.tensor(np.asarray(a)) for a in args]
            got["torch"] = TR.retrace(t[0], t[1], t[2], t[3], t[4], t[5], g, lam, cb).numpy()
        scale = 1.0 + float(np.max(np.abs(want)))
        err = max(float(np.max(np.abs(v - want))) for v in got.values()) / scale
        if err > 1e-10:
            worst = max(got, key=lambda k: float(np.max(np.abs(got[k] - want))))
            raise Violation(f"retrace ({worst}) != direct sum of eq. (3)", path=worst, relative_error=err,
                            gamma=g, lam=lam, c_bar=cb)
        return err

    ev = property_evidence(ctx, strat(), body, target_label="relative_error",
                           summary=f"retrace == direct sum of Munos et al. eq. (3) ({', '.join(paths)})")
    ev.figures["paths"] = paths
    return ev


def _retrace_fixture(rng: np.random.Generator, c_bar: float) -> tuple[Any, ...]:
    """2 states x 2 actions with per-(x, a) termination probabilities, pi far from mu, and a Q that is not
    Q^pi; redrawn until some ratio pi/mu is above c_bar and some below (so the traces are not constant)."""
    S, A = 2, 2
    for _ in range(1000):
        pi = M.softmax(2.0 * rng.normal(size=(S, A)))
        mu = M.softmax(2.0 * rng.normal(size=(S, A)))
        ratio = pi / mu
        if np.any(ratio > c_bar) and np.any(ratio < 0.9 * c_bar):
            break
    P = rng.dirichlet(np.ones(S), size=(S, A))
    rew = rng.normal(size=(S, A))
    p_term = rng.uniform(0.1, 0.4, size=(S, A))
    Q = rng.normal(size=(S, A))
    return P, rew, p_term, pi, mu, Q


def _retrace_expected_linear(P: np.ndarray, rew: np.ndarray, p_term: np.ndarray, pi: np.ndarray, mu: np.ndarray,
                             Q: np.ndarray, gamma: float, H: int, traces_next: np.ndarray | None = None,
                             traces_here: np.ndarray | None = None) -> np.ndarray:
    """E_mu[G_0 | x_0, a_0] of the H-step Retrace target in linear algebra: Q + sum_{t<H} gamma^t P_c^t D with
    D = r + gamma (1 - p_term) P E_pi Q - Q and P_c((x,a),(x',b)) = (1 - p_term(x,a)) P(x'|x,a) mu(b|x') c.
    ``traces_next`` c(x', b) (the right trace); ``traces_here`` c(x, a) instead (an off-by-one trace)."""
    S, A = Q.shape
    n = S * A
    EQ = np.sum(pi * Q, axis=1)
    D = (rew + gamma * (1 - p_term) * (P @ EQ) - Q).reshape(n)
    cont = ((1 - p_term)[:, :, None] * P).reshape(n, S)
    if traces_here is not None:
        Pc = (cont[:, :, None] * mu[None, :, :]).reshape(n, n) * traces_here.reshape(n)[:, None]
    else:
        assert traces_next is not None
        Pc = (cont[:, :, None] * (mu * traces_next)[None, :, :]).reshape(n, n)
    total, term = np.zeros(n), D.copy()
    for _ in range(H):
        total += term
        term = gamma * Pc @ term
    return (Q.reshape(n) + total).reshape(S, A)


def _retrace_enumerated(P: np.ndarray, rew: np.ndarray, p_term: np.ndarray, pi: np.ndarray, mu: np.ndarray,
                        Q: np.ndarray, gamma: float, lam: float, c_bar: float, H: int) -> np.ndarray:
    """E_mu[G_0 | x_0, a_0] of R.retrace by enumerating every episode of at most H steps: after each step the
    episode terminates with probability p_term(x, a) (terminated, no bootstrap); after step H - 1 it is
    truncated (bootstrap E_pi Q(x_H))."""
    S, A = Q.shape
    EQ = np.sum(pi * Q, axis=1)
    out = np.zeros((S, A))

    def walk(steps: list[tuple[int, int]], prob: float, x0: int, a0: int) -> None:
        x, a = steps[-1]
        t = len(steps) - 1
        # the episode terminates here
        _add(steps, None, True, prob * p_term[x, a], x0, a0)
        for x2 in range(S):
            pn = prob * (1 - p_term[x, a]) * P[x, a, x2]
            if t == H - 1:
                _add(steps, x2, False, pn, x0, a0)
            else:
                for b in range(A):
                    walk([*steps, (x2, b)], pn * mu[x2, b], x0, a0)

    def _add(steps: list[tuple[int, int]], x_next: int | None, terminated: bool, prob: float, x0: int,
             a0: int) -> None:
        xs = np.array([s for s, _ in steps])
        as_ = np.array([b for _, b in steps])
        nxt = np.array([s for s, _ in steps[1:]] + [x_next if x_next is not None else 0])
        T = len(steps)
        term = np.zeros(T, dtype=bool)
        trunc = np.zeros(T, dtype=bool)
        term[-1] = terminated
        trunc[-1] = not terminated
        G = R.retrace(rew[xs, as_], Q[xs, as_], EQ[nxt], np.log(pi[xs, as_]) - np.log(mu[xs, as_]), term, trunc,
                      gamma, lam, c_bar)
        out[x0, a0] += prob * float(G[0])

    for x0 in range(S):
        for a0 in range(A):
            walk([(x0, a0)], 1.0, x0, a0)
    return out


@check("exact")
def retrace_def_enumeration(ctx: Context) -> Evidence:
    """Every episode of at most H = 3 steps of random 2x2 MDPs with termination probabilities, Q != Q^pi,
    c_bar in {0.7, 1.5}, lambda = 0.8: E_mu[R.retrace target | x0, a0] equals Q + sum_t gamma^t P_c^t D (linear
    algebra with the traces c = lambda min(c_bar, pi/mu) at the NEXT pair). The fixtures tell wrong traces apart:
    c_bar taken as 1, lambda dropped, or the trace of the current pair (off by one) change the expectation."""
    rng = ctx.rng()
    H, gamma, lam = 3, 0.9, 0.8
    worst = 0.0
    gaps = {"c_bar_as_1": math.inf, "lambda_dropped": math.inf, "trace_off_by_one": math.inf}
    above = 0
    for i in range(4):
        c_bar = (0.7, 1.5)[i % 2]
        # redraw (at most 50 times) until the fixture tells each wrong trace apart by >= 1e-3
        for _ in range(50):
            P, rew, p_term, pi, mu, Q = _retrace_fixture(rng, c_bar)
            ratio = pi / mu
            c = lam * np.minimum(c_bar, ratio)
            lin = _retrace_expected_linear(P, rew, p_term, pi, mu, Q, gamma, H, traces_next=c)
            inst = {
                "c_bar_as_1": _retrace_expected_linear(P, rew, p_term, pi, mu, Q, gamma, H,
                                                       traces_next=lam * np.minimum(1.0, ratio)),
                "lambda_dropped": _retrace_expected_linear(P, rew, p_term, pi, mu, Q, gamma, H,
                                                           traces_next=np.minimum(c_bar, ratio)),
                "trace_off_by_one": _retrace_expected_linear(P, rew, p_term, pi, mu, Q, gamma, H, traces_here=c),
            }
            inst_gap = {k: float(np.max(np.abs(v - lin))) for k, v in inst.items()}
            if min(inst_gap.values()) > 1e-3:
                break
        above += int(np.sum(ratio > c_bar))
        enum = _retrace_enumerated(P, rew, p_term, pi, mu, Q, gamma, lam, c_bar, H)
        worst = max(worst, float(np.max(np.abs(enum - lin))) / (1.0 + float(np.max(np.abs(lin)))))
        for k, v in inst_gap.items():
            gaps[k] = min(gaps[k], v)
    min_gap = min(gaps.values())
    ok = worst < 1e-12
    if ok and (min_gap <= 1e-4 or above == 0):  # a fixture that cannot see a wrong trace decides nothing
        return Evidence("exact", None, f"fixtures too weak to separate wrong traces (gap {min_gap:.1e}); undecided",
                        {"max_relative_error": worst, "min_gap_wrong_trace": gaps, "seed": ctx.seed})
    return Evidence("exact", bool(ok),
                    f"E_mu[retrace target] == Q + sum_t gamma^t P_c^t D on 4 MDPs (H={H}, Q != Q^pi) to {worst:.1e}; "
                    f"wrong traces move it by >= {min_gap:.2e}",
                    {"max_relative_error": worst, "horizon": H, "gamma": gamma, "lam": lam, "c_bars": [0.7, 1.5],
                     "ratios_above_c_bar": above, "min_gap_wrong_trace": gaps, "seed": ctx.seed},
                    counterexample=None if ok else {"max_relative_error": worst, "gaps": gaps})


claim(
    id="RETRACE-DEF",
    title="The Retrace target is Munos et al.'s eq. (3), trace by trace",
    statement=r"G_s=Q(x_s,a_s)+\sum_{t\ge s}\gamma^{t-s}\Big(\prod_{i=s+1}^{t}c_i\Big)\big(r_t+\gamma\,"
              r"\mathbb E_\pi Q(x_{t+1},\cdot)-Q(x_t,a_t)\big),\ c_i=\lambda\min\big(\bar c,\tfrac{\pi(a_i|x_i)}"
              r"{\mu(a_i|x_i)}\big);\ \mathbb E_\mu[G_0\,|\,x_0,a_0]=Q+\textstyle\sum_t\gamma^tP_c^t\,"
              r"(\mathcal T^\pi Q-Q)",
    source=Source("Munos, Stepleton, Harutyunyan & Bellemare (2016), arXiv:1606.02647, eq. (3)"),
    family=FAMILY,
    expected="verified",
    kind="implementation",
    checks=(retrace_def_direct_sum, retrace_def_enumeration),
    conventions=CONVENTIONS,
    assumptions=("mu > 0 wherever pi > 0", "episodes cut at terminated (no bootstrap) or truncated (bootstrap)"),
    uses=("RETRACE-CONTRACTION",),
    notes="RETRACE-CONTRACTION checks the operator in its own matrix form, and at $Q=Q^\\pi$ every trace gives the "
          "same expectation, so neither can see a wrong trace. Here the reference target is compared with a direct "
          "sum of eq. (3) with ratios above $\\bar c$, $\\bar c\\ne1$, $\\lambda<1$ and episode ends, and its "
          "expectation at $Q\\ne Q^\\pi$ with the linear-algebra operator; the fixtures are chosen so that "
          "$\\bar c$ read as 1, a dropped $\\lambda$ or an off-by-one trace each change the expectation.",
)
