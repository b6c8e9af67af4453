"""SAPO's soft gate (SAPO-GATE)."""

from __future__ import annotations

import math
from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import losses as L
from verify.claims.ppo_grpo._common import FAMILY, torch_mirrors
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== SAPO


def _sapo_weight(r: float, tau: float) -> float:
    """d f_tau(r) / d log r = 4 sigma (1 - sigma) r, sigma = sigmoid(tau (r - 1))."""
    sg = 1.0 / (1.0 + math.exp(-tau * (r - 1.0)))
    return 4.0 * sg * (1.0 - sg) * r


@check("symbolic")
def sapo_symbolic(ctx: Context) -> Evidence:
    """sympy: f(r) = (4/tau) sigmoid(tau (r-1)); f'(1) = 1 for every tau; f'(r) = 4 s (1-s); and
    f''(r) = 4 tau s (1-s)(1-2s) (negative for r > 1, positive for r < 1)."""
    r, tau = sp.symbols("r tau", positive=True)
    sig = 1 / (1 + sp.exp(-tau * (r - 1)))
    f = 4 / tau * sig
    e1 = sp.diff(f, r).subs(r, 1) - 1
    e2 = sp.diff(f, r) - 4 * sig * (1 - sig)
    e3 = sp.diff(f, r, 2) - 4 * tau * sig * (1 - sig) * (1 - 2 * sig)
    return symbolic_evidence(sp.simplify(e1) ** 2 + sp.simplify(e2) ** 2 + sp.simplify(e3) ** 2,
                             "f'(1) = 1, f' = 4 s(1-s), f'' = 4 tau s(1-s)(1-2s)")


@check("exact")
def sapo_exact(ctx: Context) -> Evidence:
    """Autograd of the torch mirror: at r = 1 the gradient w.r.t. log pi is exactly A (the policy
    gradient) for every tau; elsewhere A 4 s(1-s) r. The weight on grad log pi, 4 s(1-s) r, is not
    monotone in |r - 1|: it rises above 1 for r > 1 and peaks at r*(tau) (mpmath root)."""
    torch, TL, _ = torch_mirrors()
    worst, at_one = 0.0, 0.0
    for tau in (0.5, 1.0, 1.05, 10.0):
        r = np.array([0.3, 0.9, 1.0, 1.0, 1.2, 2.0, 4.0])
        adv = np.array([1.0, -1.0, 2.0, -0.5, 1.0, -1.0, 1.0])
        lp = torch.tensor(np.log(r), dtype=torch.float64, requires_grad=True)
        TL.sapo_objective(lp, torch.zeros(7, dtype=torch.float64), torch.tensor(adv), tau, tau).sum().backward()
        g = lp.grad.numpy()
        want = np.array([a * _sapo_weight(float(x), tau) for x, a in zip(r, adv)])
        worst = max(worst, float(np.max(np.abs(g - want))))
        at_one = max(at_one, float(np.max(np.abs(g[2:4] - adv[2:4]))))
    peaks = {}
    with mp.workdps(30):
        for tau in (1.0, 1.05, 10.0):
            def dw(x: Any, tau: float = tau) -> Any:
                s = 1 / (1 + mp.exp(-tau * (x - 1)))
                return 4 * s * (1 - s) * (1 + x * tau * (1 - 2 * s))
            lo_, hi_ = mp.mpf(1), 1 + mp.mpf(20) / tau  # dw > 0 at r = 1, dw < 0 at hi_: bisect
            for _ in range(100):
                mid = (lo_ + hi_) / 2
                lo_, hi_ = (mid, hi_) if dw(mid) > 0 else (lo_, mid)
            root = (lo_ + hi_) / 2
            peaks[str(tau)] = [float(root), _sapo_weight(float(root), tau)]
    ok = worst < 1e-14 and at_one == 0.0 and all(v[0] > 1 and v[1] > 1 for v in peaks.values())
    return Evidence("exact", ok, "SAPO gradient == A 4s(1-s) r (== A at r = 1); weight on grad log pi peaks above 1 "
                    f"at r* = {peaks['1.0'][0]:.4f} for tau = 1", {"max_abs_error": worst,
                                                                 "max_error_at_r=1": at_one,
                                                                 "peak (r*, weight) by tau": peaks})


@check("property")
def sapo_property(ctx: Context) -> Evidence:
    """Hypothesis: the numpy value == torch value; f'(r) = 4 s(1-s) strictly decreases in |r - 1|
    (on each side); the tau of each element is tau_pos for A > 0 and tau_neg otherwise."""
    torch, TL, _ = torch_mirrors()
    strat = st.tuples(st.floats(-2, 2), st.floats(0.01, 2), st.floats(-3, 3), st.floats(0.1, 20), st.floats(0.1, 20))

    def body(x: tuple[float, float, float, float, float]) -> float:
        lr, d, a, tp, tn = x
        val = L.sapo_objective(np.array([lr]), np.zeros(1), np.array([a]), tp, tn)[0]
        tv_ = TL.sapo_objective(torch.tensor([lr], dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                                torch.tensor([a], dtype=torch.float64), tp, tn)[0].item()
        tau = tp if a > 0 else tn
        r = math.exp(lr)
        want = 4 / tau / (1 + math.exp(-tau * (r - 1))) * a
        if abs(val - tv_) > 1e-14 * max(1, abs(val)) or abs(val - want) > 1e-12 * max(1, abs(want)):
            raise Violation("SAPO value mismatch", numpy=val, torch=tv_, want=want)
        for side in (1, -1):
            x1, x2 = 1 + side * min(d, 0.99) / 2, 1 + side * min(d, 0.99)
            if not _sapo_weight(x1, tau) / x1 > _sapo_weight(x2, tau) / x2:
                raise Violation("f' not decreasing in |r - 1|", tau=tau, r1=x1, r2=x2)
        return 0.0

    return property_evidence(ctx, strat, body, summary="SAPO value (numpy == torch == formula); gate derivative "
                                                       "decreasing in |r-1|")


claim(
    id="SAPO-GATE",
    title="SAPO's soft gate: f'(1) = 1 (policy gradient at theta_old), decaying gate derivative",
    statement=r"f_\tau(r)=\tfrac4\tau\sigma(\tau(r-1)),\ f_\tau'(1)=1,\ f_\tau'(r)=4\sigma(1-\sigma)\ "
              r"\text{decreasing in }|r-1|;\ \partial(f_\tau(r)A)/\partial\log\pi=4\sigma(1-\sigma)\,r\,A\ "
              r"\text{(not monotone: peaks above 1 at } r^*(\tau)>1)",
    source=Source("Gao et al. (2025) SAPO, arXiv:2511.20347; tau_pos = 1.0, tau_neg = 1.05 (ms-swift docs)"),
    family=FAMILY,
    expected="verified",
    checks=(sapo_symbolic, sapo_exact, sapo_property),
    conventions=("tau = tau_pos where A > 0, tau_neg otherwise",),
    notes="The 'monotone decay of the gate weight' holds for the gate derivative f'(r); the weight on "
          "grad log pi carries an extra factor r and first rises (slope 1 at r = 1).",
)
