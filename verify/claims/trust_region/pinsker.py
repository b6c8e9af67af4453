"""Pinsker's inequality (PINSKER), the slides' Pinsker line (SEED-S1-PINSKER-TV) and its correction."""

from __future__ import annotations

import itertools
import math
from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import mdp as M
from verify import strategies as vst
from verify.claims.trust_region import _common
from verify.claims.trust_region._common import DPS, FAMILY, S1, _mutation_figures
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

# =========================================================================== PINSKER


def _mp_tv_kl(p: np.ndarray, q: np.ndarray) -> tuple[Any, Any, Any]:
    """TV, KL(p||q), KL(q||p) of the renormalized mpmath copies of p, q (inside workdps); inf if unsupported."""
    pm = [mp.mpf(float(v)) for v in p]
    qm = [mp.mpf(float(v)) for v in q]
    sp_, sq = mp.fsum(pm), mp.fsum(qm)
    pm = [v / sp_ for v in pm]
    qm = [v / sq for v in qm]
    tv = mp.fsum(abs(a - b) for a, b in zip(pm, qm)) / 2

    def kl(x: list[Any], y: list[Any]) -> Any:
        if any(a > 0 and b == 0 for a, b in zip(x, y)):
            return mp.inf
        return mp.fsum(a * mp.log(a / b) for a, b in zip(x, y) if a > 0)

    return tv, kl(pm, qm), kl(qm, pm)


@check("property")
def pinsker_property(ctx: Context) -> Evidence:
    """Hypothesis categorical pairs (some with zeros, some near-identical), mpmath at 50 digits plus
    4 digits per decade of the smallest |p - q| (so TV^4 is resolved): TV <= sqrt(KL/2) for both KL
    directions; ratio TV/sqrt(KL/2) targeted."""
    c = _common.BOUND_SCALE["PINSKER"]
    strat = st.one_of(
        st.tuples(vst.distributions(zeros=True), vst.distributions()).filter(lambda t: t[0].shape == t[1].shape),
        vst.near_identical_distributions(),
        st.integers(2, 5).flatmap(lambda n: st.tuples(vst.distributions(st.just(n), zeros=True),
                                                      vst.distributions(st.just(n)))),
    )

    def body(x: tuple[np.ndarray, np.ndarray]) -> float:
        p, q = x
        # the ratio's distance from 1 is ~ TV^2/3 while KL ~ TV^2: resolve TV^4 relative to 1
        gaps = np.abs(p - q)[np.abs(p - q) > 0]
        dps = DPS + (4 * math.ceil(-math.log10(float(gaps.min()))) if gaps.size else 0)
        with mp.workdps(max(DPS, dps)):
            tv, k_pq, k_qp = _mp_tv_kl(p, q)
            r = mp.mpf(0)
            for k in (k_pq, k_qp):
                b = c * mp.sqrt(k / 2) if k != mp.inf else mp.inf
                if tv > b:
                    raise Violation(f"TV = {float(tv):.6g} > {float(b):.6g}", p=p.tolist(), q=q.tolist())
                if b != mp.inf and b > 0:
                    r = max(r, tv / b)
            return float(r)

    return property_evidence(ctx, strat, body, summary="TV <= sqrt(KL/2), both directions, mpmath at 50 digits")


@check("high-precision")
def pinsker_fixture(ctx: Context) -> Evidence:
    """Bernoulli(1/2 + delta) vs Bernoulli(1/2), mpmath: TV/sqrt(KL/2) = 0.9999667 at delta = 0.01
    (1 - delta^2/3 + O(delta^4)); 0.99 x the bound is violated; the L1 form ||P-Q||_1 <= sqrt(2 KL) holds."""
    c = _common.BOUND_SCALE["PINSKER"]
    rows = []
    with mp.workdps(DPS):
        for delta in (mp.mpf("0.1"), mp.mpf("0.01"), mp.mpf("0.001")):
            p = [mp.mpf(1) / 2 + delta, mp.mpf(1) / 2 - delta]
            q = [mp.mpf(1) / 2, mp.mpf(1) / 2]
            kl = mp.fsum(a * mp.log(a / b) for a, b in zip(p, q))
            tv = delta
            ratio = tv / (c * mp.sqrt(kl / 2))
            l1_ratio = 2 * tv / mp.sqrt(2 * kl)
            rows.append({"delta": float(delta), "ratio": float(ratio),
                         "series_1_minus_d2_over_3": float(1 - delta**2 / 3), "l1_form_ratio": float(l1_ratio)})
    fix = rows[1]["ratio"]
    figs: dict[str, Any] = {"fixture_ratio": fix, "rows": rows, "dps": DPS}
    figs["mutation"] = _mutation_figures("PINSKER", fix)
    ok = all(r["ratio"] <= 1 and r["l1_form_ratio"] <= 1 for r in rows) and abs(fix - 0.9999667) < 1e-7 \
        and figs["mutation"]["mutation_detected"]
    return Evidence("high-precision", bool(ok), f"Bernoulli fixture ratio {fix:.7f} at delta=0.01; 0.99 x bound "
                    "violated", figs)


@check("symbolic")
def pinsker_symbolic(ctx: Context) -> Evidence:
    """sympy: KL(Bern(1/2+d)||Bern(1/2)) = 2 d^2 + 4/3 d^4 + O(d^6), so TV^2/(KL/2) -> 1: the constant 1/2
    is optimal."""
    d = sp.symbols("delta", positive=True)
    p = [sp.Rational(1, 2) + d, sp.Rational(1, 2) - d]
    kl = sum(a * sp.log(a / sp.Rational(1, 2)) for a in p)
    ser = sp.series(kl, d, 0, 6).removeO()
    ratio_sq = sp.series(d**2 / (kl / 2), d, 0, 4).removeO()
    resid = sp.expand(ser - (2 * d**2 + sp.Rational(4, 3) * d**4)) ** 2 + sp.expand(ratio_sq - (1 - 2 * d**2 / 3)) ** 2
    return symbolic_evidence(resid, "Bernoulli: KL = 2d^2 + 4d^4/3 + O(d^6); (TV/sqrt(KL/2))^2 = 1 - 2d^2/3 + O(d^4)")


claim(
    id="PINSKER",
    title="Pinsker's inequality (sharp constant, TV = 1/2 L1)",
    statement=r"D_{TV}(P,Q)=\tfrac12\|P-Q\|_1\le\sqrt{D_{KL}(P\|Q)/2}\ (\text{either direction});\ "
              r"\|P-Q\|_1\le\sqrt{2D_{KL}}",
    source=Source("Pinsker; sharp constant Csiszar/Kemperman/Kullback; as stated in CPO (Achiam et al. 2017) Sec. 5.1 "
                  "(Csiszar & Koerner)"),
    family=FAMILY,
    expected="verified",
    checks=(pinsker_property, pinsker_fixture, pinsker_symbolic),
    conventions=("TV = 1/2 L1", "KL in nats; both directions"),
    notes="TRPO uses the weaker D_TV^2 <= D_KL (Pollard). The constant 1/2 is optimal (Bernoulli ratio -> 1).",
)


# =========================================================================== Pinsker as written


@check("property")
def pinsker_as_written_property(ctx: Context) -> Evidence:
    """Hypothesis categorical pairs P != Q: ||P - Q||_TV < sqrt(2 KL(P||Q)) strictly, both for TV = 1/2 L1 and for
    ||.||_TV = L1 (the stronger); targets the ratio L1 / sqrt(2 KL), whose supremum is 1 (never attained)."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
        k = draw(st.integers(2, 5))
        a = np.array(draw(st.lists(st.floats(-4, 4), min_size=k, max_size=k)))
        b = np.array(draw(st.lists(st.floats(-4, 4), min_size=k, max_size=k)))
        return M.softmax(a), M.softmax(b)

    def body(x: tuple[np.ndarray, np.ndarray]) -> float | None:
        p, q = x
        l1 = float(np.abs(p - q).sum())
        if l1 < 1e-6:
            return None  # equal up to rounding: the strict '<' is the equality case (0 < 0), a note
        with mp.workdps(DPS):
            # the float64 rows sum to 1 only up to rounding, which matters when P ~ Q (L1 and sqrt(2 KL) then
            # agree to O(L1^2) relative): renormalize in mpmath so both sides are of exact distributions
            P = [mp.mpf(float(a)) for a in p]
            Q = [mp.mpf(float(b)) for b in q]
            sp, sq = mp.fsum(P), mp.fsum(Q)
            P, Q = [a / sp for a in P], [b / sq for b in Q]
            l1_mp = mp.fsum(abs(a - b) for a, b in zip(P, Q))
            kl = mp.fsum(a * (mp.log(a) - mp.log(b)) for a, b in zip(P, Q) if a > 0)
            rhs = mp.sqrt(2 * kl)
            if not l1_mp < rhs:
                raise Violation("L1 >= sqrt(2 KL)", p=p.tolist(), q=q.tolist(), l1=float(l1_mp), rhs=float(rhs))
            return float(l1_mp / rhs)

    return property_evidence(ctx, strat(), body, target_label="L1 / sqrt(2 KL)",
                             summary="||P-Q||_TV < sqrt(2 KL(P||Q)) for P != Q (TV = 1/2 L1 and L1 readings)")


@check("high-precision")
def pinsker_as_written_high_precision(ctx: Context) -> Evidence:
    """mpmath (50 digits), Bernoulli(1/2 + d) vs Bernoulli(1/2): L1 / sqrt(2 KL) = 0.99..., rising to 1 as d -> 0
    but staying below it (strict for P != Q); only P = Q gives equality (0 = 0)."""
    rows = []
    ok = True
    with mp.workdps(DPS):
        for d in (mp.mpf("0.3"), mp.mpf("0.1"), mp.mpf("0.01"), mp.mpf("0.001")):
            P = [mp.mpf(1) / 2 + d, mp.mpf(1) / 2 - d]
            K = mp.fsum(a * mp.log(2 * a) for a in P)
            ratio = 2 * d / mp.sqrt(2 * K)
            ok &= ratio < 1
            rows.append({"d": float(d), "l1_over_sqrt_2kl": float(ratio)})
    ok &= all(b["l1_over_sqrt_2kl"] > a["l1_over_sqrt_2kl"] for a, b in itertools.pairwise(rows))
    return Evidence("high-precision", bool(ok), f"L1 / sqrt(2 KL) < 1, -> 1 (at d = 1e-3: "
                    f"{rows[-1]['l1_over_sqrt_2kl']:.9f}); TV = 1/2 L1 is half of it", {"rows": rows, "dps": DPS})


claim(
    id="SEED-S1-PINSKER-TV",
    title="S1: '||pi_theta' - pi_theta||_TV < sqrt(2 D_KL(pi_theta'||pi_theta))'",
    statement=r"\|\pi_{\theta'}-\pi_\theta\|_{TV}<\sqrt{2D_{KL}(\pi_{\theta'}\|\pi_\theta)}\quad(\pi_{\theta'}\ne"
              r"\pi_\theta)",
    source=Source(seed_citation(S1, "line 474"),
                  quote=r"$||\pi_{\theta'} - \pi_{\theta}||_{TV} < \sqrt{2D_{KL}(\pi_{\theta'}||\pi_{\theta})}$",
                  seed_file=S1),
    family=FAMILY,
    expected="verified",
    kind="seed-statement",
    checks=(pinsker_as_written_property, pinsker_as_written_high_precision),
    conventions=("checked for both ||.||_TV = 1/2 L1 (TRPO/CPO) and ||.||_TV = L1", "KL in nats"),
    reading="The strict '<' fails only at equality (P = Q gives 0 < 0), which the rule makes a note, not a "
            "refutation. For P != Q the inequality holds strictly under either meaning of ||.||_TV: it is Pinsker's "
            "sharp inequality if ||.||_TV denotes L1, and loose by a factor 2 under TV = 1/2 L1.",
    notes="The sharp form under TV = 1/2 L1 is D_TV <= sqrt(KL/2) (SEED-S1-PINSKER-TV-CORRECTED).",
)


# --------------------------------------------------------------------------- S1 Pinsker in "TV" form


claim(
    id="SEED-S1-PINSKER-TV-CORRECTED",
    title="Sharp Pinsker under TV = 1/2 L1: D_TV <= sqrt(KL/2), i.e. ||P - Q||_1 <= sqrt(2 KL)",
    statement=r"D_{TV}(P,Q)=\tfrac12\|P-Q\|_1\le\sqrt{D_{KL}(P\|Q)/2}\iff\|P-Q\|_1\le\sqrt{2D_{KL}(P\|Q)}",
    source=Source("Pinsker (sharp constant); CPO (Achiam et al. 2017) Sec. 5.1"),
    family=FAMILY,
    expected="verified",
    kind="theorem",
    checks=(pinsker_fixture, pinsker_symbolic),
    conventions=("TV = 1/2 L1", "KL in nats, either direction"),
    uses=("PINSKER",),
)
