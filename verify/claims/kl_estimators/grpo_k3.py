"""GRPO's description of k3 (GRPO-K3-UNBIASED-POSITIVE) and its qualified form."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import divergences as D
from reference_impls import mdp as M
from verify.claims.kl_estimators._common import (
    FAMILY,
    categorical_pairs,
    expected_loss_gradients,
    grad_kl_forward,
    grad_kl_reverse,
)
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== GRPO's k3 description

_GRPO_QUOTE = ("we estimate the KL divergence with the following unbiased estimator (Schulman, 2020): "
               "D_KL[π_θ||π_ref] = π_ref(o_{i,t}|q,o_{i,<t})/π_θ(o_{i,t}|q,o_{i,<t}) − log π_ref(o_{i,t}|q,o_{i,<t})/"
               "π_θ(o_{i,t}|q,o_{i,<t}) − 1, which is guaranteed to be positive.")


@check("high-precision")
def k3_as_meant_high_precision(ctx: Context) -> Evidence:
    """mpmath (40 digits) on random categoricals (tokens sampled from pi_theta, as in Schulman 2020): the reference
    k3 values match r - log r - 1 (r = pi_ref / pi_theta), E_{pi_theta}[k3] == KL(pi_theta||pi_ref), and k3 >= 0 with
    equality only at r = 1 (a grid around r = 1 included)."""
    rng = ctx.rng()
    worst_val, worst_mean, min_off_one = mp.mpf(0), mp.mpf(0), mp.inf
    with mp.workdps(40):
        for _ in range(20):
            k = int(rng.integers(2, 7))
            pi, ref = M.softmax(2 * rng.normal(size=k)), M.softmax(2 * rng.normal(size=k))
            k3 = D.kl_estimator(np.log(pi), np.log(ref), "k3")
            P, Q = [mp.mpf(float(x)) for x in pi], [mp.mpf(float(x)) for x in ref]
            P, Q = [x / mp.fsum(P) for x in P], [x / mp.fsum(Q) for x in Q]  # exactly normalized
            exact = [q / p - mp.log(q / p) - 1 for p, q in zip(P, Q)]
            worst_val = max(worst_val, max(abs(mp.mpf(float(a)) - b) / max(1, abs(b)) for a, b in zip(k3, exact)))
            kl = mp.fsum(p * mp.log(p / q) for p, q in zip(P, Q))
            worst_mean = max(worst_mean, abs(mp.fsum(p * e for p, e in zip(P, exact)) - kl))
        for r in (mp.mpf("0.01"), mp.mpf("0.5"), mp.mpf("0.999"), mp.mpf("1.001"), mp.mpf(2), mp.mpf(100)):
            min_off_one = min(min_off_one, r - mp.log(r) - 1)
        at_one = mp.mpf(1) - mp.log(1) - 1
    passed = worst_val < 1e-13 and worst_mean < mp.mpf(10) ** -30 and min_off_one > 0 and at_one == 0
    return Evidence("high-precision", bool(passed),
                    f"E_pi[k3] == KL(pi||ref) to {float(worst_mean):.1e} (40 digits, 20 categoricals); reference k3 "
                    f"within {float(worst_val):.1e}; k3 > 0 off r = 1 (min {float(min_off_one):.2e}), 0 at r = 1",
                    {"max_mean_error": float(worst_mean), "max_reference_rel_error": float(worst_val),
                     "min_k3_off_r_1": float(min_off_one), "k3_at_r_1": float(at_one), "dps": 40, "seed": ctx.seed})


@check("symbolic")
def k3_as_meant_symbolic(ctx: Context) -> Evidence:
    """sympy, symbolic 3-point pi_theta and pi_ref: sum pi (ref/pi - log(ref/pi) - 1) - sum pi log(pi/ref) == 0; and
    f(r) = r - log r - 1 has f(1) = 0, f'(1) = 0, f'' = 1/r^2 > 0 (so f >= 0, zero only at r = 1)."""
    P, Q = sp.symbols("p0:3", positive=True), sp.symbols("q0:3", positive=True)
    r = sp.Symbol("r", positive=True)
    mean_k3 = sum(p * (q / p - sp.log(q / p) - 1) for p, q in zip(P, Q))
    kl = sum(p * (sp.log(p) - sp.log(q)) for p, q in zip(P, Q))
    gap = sp.expand(sp.expand_log(mean_k3 - kl, force=True)).subs({P[2]: 1 - P[0] - P[1], Q[2]: 1 - Q[0] - Q[1]})
    f = r - sp.log(r) - 1
    resid = (sp.expand(gap) ** 2 + f.subs(r, 1) ** 2
             + sp.diff(f, r).subs(r, 1) ** 2 + (sp.diff(f, r, 2) - 1 / r**2) ** 2)
    return symbolic_evidence(sp.simplify(resid), "E_pi[k3] = KL(pi||ref); k3 >= 0 with its minimum 0 at r = 1")


claim(
    id="GRPO-K3-UNBIASED-POSITIVE",
    title="GRPO: the k3 KL estimator in the loss is unbiased and guaranteed to be positive",
    statement=r"\frac{\pi_{ref}}{\pi_\theta}-\log\frac{\pi_{ref}}{\pi_\theta}-1\ \text{is an unbiased estimator of }"
              r"D_{KL}[\pi_\theta\|\pi_{ref}]\ \text{(as used in GRPO's objective) and is guaranteed to be positive}",
    source=Source("Shao et al. (2024) DeepSeekMath/GRPO, arXiv:2402.03300, sec. 4.1, eq. (4)",
                  quote=_GRPO_QUOTE),
    family=FAMILY,
    expected="verified",
    checks=(k3_as_meant_high_precision, k3_as_meant_symbolic),
    reading="Read as its authors meant it, citing Schulman (2020): k3 is an unbiased estimator of the KL *value* "
            "when tokens are sampled from pi_theta, and 'guaranteed to be positive' means never negative (k3 = 0 "
            "exactly when pi_theta = pi_ref on the token, an equality case). The earlier verdict refuted added "
            "clauses: off-policy samples (pi_old) and the gradient of k3 used as a loss, which the sentence does not "
            "address.",
    notes="Qualifications that matter in practice (GRPO-K3-QUALIFIED): with samples from pi_old the estimate needs the "
          "weight pi_theta/pi_old, and as a loss its expected gradient is that of the forward KL(pi_ref||pi_theta).",
)


@check("property")
def k3_qualified_property(ctx: Context) -> Evidence:
    """Hypothesis over (pi, ref, old) categoricals: k3 >= 0 with k3 == 0 iff log r == 0;
    E_pi[k3] == KL(pi||ref); E_old[(pi/old) k3] == KL(pi||ref) (exact enumeration)."""
    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, r = draw(categorical_pairs())
        o = draw(st.lists(st.floats(-4, 4), min_size=len(p), max_size=len(p)))
        return p, r, M.softmax(np.array(o))

    def body(x: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        pi, ref, old = x
        k3 = D.kl_estimator(np.log(pi), np.log(ref), "k3")
        lr = np.log(ref) - np.log(pi)
        if np.any(k3 < 0) or np.any((k3 == 0) != (lr == 0)):
            raise Violation("k3 sign/zero set wrong", k3=k3.tolist(), log_r=lr.tolist())
        kl = float(D.kl(pi, ref))
        err = max(abs(float(pi @ k3) - kl), abs(float(old @ (pi / old * k3)) - kl)) / max(1.0, kl)
        if err > 1e-12:
            raise Violation("k3 not unbiased on-policy or IS-corrected", error=err)
        return err

    return property_evidence(ctx, strat(), body, target_label="error",
                             summary="k3 >= 0 (0 iff r = 1); unbiased on-policy and with the IS weight pi/pi_old")


@check("exact")
def k3_qualified_gradient(ctx: Context) -> Evidence:
    """Exact enumeration: on-policy k3 loss gradient == grad KL(ref||pi) (forward); the IS-corrected
    loss (pi/pi_old) k3 from pi_old samples has expected gradient grad KL(pi||ref) (reverse)."""
    rng = ctx.rng()
    worst = 0.0
    for _ in range(5):
        z, z_ref, z_old = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
        pi, ref = M.softmax(z), M.softmax(z_ref)
        g = expected_loss_gradients(z, ref, z_old)
        worst = max(worst, float(np.max(np.abs(g["k3"] - grad_kl_forward(pi, ref)))),
                    float(np.max(np.abs(g["k3 importance-corrected"] - grad_kl_reverse(pi, ref)))))
    return Evidence("exact", worst < 1e-14, "k3 loss gradient is forward-KL on-policy, reverse-KL when IS-corrected",
                    {"max_abs_error": worst})


claim(
    id="GRPO-K3-QUALIFIED",
    title="k3 qualified: >= 0 (0 iff r = 1), unbiased for the value only on-policy, forward-KL gradient as a loss",
    statement=r"k_3\ge 0\ (=0\iff r=1);\ \mathbb E_{\pi_\theta}[k_3]=KL(\pi_\theta\|\pi_{ref})="
              r"\mathbb E_{\pi_{old}}[\tfrac{\pi_\theta}{\pi_{old}}k_3];\ \mathbb E_{\pi_\theta}[\nabla k_3]="
              r"\nabla KL(\pi_{ref}\|\pi_\theta)",
    source=Source("Schulman (2020); Tang & Munos (2025) arXiv:2506.09477; "
                  "DeepSeek-V3.2 IS-corrected KL (TRL PR #4638)"),
    family=FAMILY,
    expected="verified",
    kind="theorem",
    checks=(k3_qualified_property, k3_qualified_gradient),
    uses=("KL-ESTIMATORS-VALUE", "KL-ESTIMATORS-GRADIENT"),
)
