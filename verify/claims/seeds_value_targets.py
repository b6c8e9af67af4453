"""The slides' (seed 001) importance-weighted IMPALA target ("Reweight future state probabilities"), judged under
the reading rule, with its correction. Registers into ``value-targets``."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import enumeration as E
from reference_impls import mdp as M
from reference_impls import returns as R
from verify import strategies as vst
from verify.claims.value_targets import CONVENTIONS, _chain_fixture
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

FAMILY = "value-targets"
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
