"""The clip fraction (PPO-CLIP-FRACTION)."""

from __future__ import annotations

from typing import Any

import numpy as np

from reference_impls import divergences as D
from reference_impls import losses as L
from verify.claims.ppo_grpo._common import _CF_A, _CF_R, FAMILY, _autograd_ppo, ppo_batches, torch_mirrors
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim

_CF_MASK = np.array([1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)


#: The same ratios with an advantage pattern that is NOT symmetric in sign(A): clipped-branch counts
#: entries 0, 1 (A > 0, r > 1.2) and 3 (A < 0, r < 0.8) -> 3/8; counting the wrong side (A > 0, r < 0.8
#: or A < 0, r > 1.2) would give entry 2 only -> 1/8. Masked (last two out): 3/6 against 1/6.
_CF_A_ASYM = np.array([1.0, 2.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0])


@check("exact")
def clip_fraction_golden(ctx: Context) -> Evidence:
    """Golden example separating the two definitions; the clipped-branch set is exactly the set
    of non-zero-advantage elements whose autograd gradient is 0; baselines' approxkl
    1/2 mean((log r)^2) is the mean k2 estimate of KL(old || new) from old-policy samples."""
    torch, TL, _ = torch_mirrors()
    lp, old = np.log(_CF_R), np.zeros(8)
    got = {
        "ratio-outside": L.clip_fraction(lp, old, _CF_A, 0.2, definition="ratio-outside"),
        "clipped-branch": L.clip_fraction(lp, old, _CF_A, 0.2, definition="clipped-branch"),
        "ratio-outside, masked": L.clip_fraction(lp, old, _CF_A, 0.2, mask=_CF_MASK, definition="ratio-outside"),
        "clipped-branch, masked": L.clip_fraction(lp, old, _CF_A, 0.2, mask=_CF_MASK, definition="clipped-branch"),
    }
    want = {"ratio-outside": 6 / 8, "clipped-branch": 2 / 8, "ratio-outside, masked": 4 / 6,
            "clipped-branch, masked": 2 / 6}
    # the asymmetric advantages separate the clipped branch from its mirror image (the wrong side), in
    # the numpy reference and in the torch mirror alike
    for tag, frac in (("", L.clip_fraction), ("torch ", _torch_clip_fraction(torch, TL))):
        got[f"{tag}asymmetric clipped-branch"] = frac(lp, old, _CF_A_ASYM, 0.2, definition="clipped-branch")
        got[f"{tag}asymmetric clipped-branch, masked"] = frac(lp, old, _CF_A_ASYM, 0.2, mask=_CF_MASK,
                                                             definition="clipped-branch")
        got[f"{tag}asymmetric ratio-outside"] = frac(lp, old, _CF_A_ASYM, 0.2, definition="ratio-outside")
        want.update({f"{tag}asymmetric clipped-branch": 3 / 8, f"{tag}asymmetric clipped-branch, masked": 3 / 6,
                     f"{tag}asymmetric ratio-outside": 6 / 8})
    got["torch clipped-branch"] = _torch_clip_fraction(torch, TL)(lp, old, _CF_A, 0.2, definition="clipped-branch")
    want["torch clipped-branch"] = 2 / 8
    _, grad = _autograd_ppo(torch, TL, lp - old, _CF_A, old, 0.2)
    zero_grad = float(np.mean((grad == 0) & (_CF_A != 0)))
    _, grad_a = _autograd_ppo(torch, TL, lp - old, _CF_A_ASYM, old, 0.2)
    zero_grad_a = float(np.mean((grad_a == 0) & (_CF_A_ASYM != 0)))
    approxkl = 0.5 * float(np.mean((lp - old) ** 2))
    k2 = float(np.mean(D.kl_estimator(old, lp, "k2")))
    bad = {k: (got[k], want[k]) for k in want if abs(got[k] - want[k]) > 1e-15}
    ok = (not bad and zero_grad == got["clipped-branch"] and zero_grad_a == got["asymmetric clipped-branch"]
          and abs(approxkl - k2) < 1e-16)
    return Evidence("exact", ok, "golden clip fractions (6/8 vs 2/8; masked 4/6 vs 2/6; with asymmetric advantages "
                    "3/8, not the wrong side's 1/8), numpy and torch; clipped-branch == zero-gradient fraction; "
                    "approxkl == mean k2", {"got": got, "want": want, "zero_gradient_fraction": zero_grad,
                                            "zero_gradient_fraction_asymmetric": zero_grad_a,
                                            "approxkl": approxkl, "mean_k2": k2},
                    counterexample=bad or None)


def _torch_clip_fraction(torch: Any, TL: Any) -> Any:
    """The torch mirror's clip_fraction on float64 CPU tensors, returning a float (numpy-style call)."""

    def frac(lp: np.ndarray, old: np.ndarray, adv: np.ndarray, eps: Any, mask: Any = None,
             definition: str = "ratio-outside") -> float:
        t = [torch.tensor(np.asarray(x, dtype=np.float64)) for x in (lp, old, adv)]
        m = None if mask is None else torch.tensor(np.asarray(mask))
        return float(TL.clip_fraction(*t, eps, mask=m, definition=definition))

    return frac


@check("property")
def clip_fraction_property(ctx: Context) -> Evidence:
    """Hypothesis: clipped-branch <= ratio-outside; ratio-outside does not depend on A; for A != 0
    everywhere, clipped-branch(A) + clipped-branch(-A) == ratio-outside; clipped-branch equals the
    fraction of A != 0 elements with zero autograd gradient (torch mirror); the torch mirror's
    clip_fraction equals numpy's."""
    torch, TL, _ = torch_mirrors()

    def body(x: dict[str, Any]) -> float:
        lp, old, adv, eps = x["old"] + x["log_r"], x["old"], x["adv"], (x["lo"], x["hi"])
        out = L.clip_fraction(lp, old, adv, eps, definition="ratio-outside")
        br = L.clip_fraction(lp, old, adv, eps, definition="clipped-branch")
        br_neg = L.clip_fraction(lp, old, -adv, eps, definition="clipped-branch")
        out_neg = L.clip_fraction(lp, old, -adv, eps, definition="ratio-outside")
        t_br = _torch_clip_fraction(torch, TL)(lp, old, adv, eps, definition="clipped-branch")
        if abs(t_br - br) > 1e-15:
            raise Violation("torch clip_fraction (clipped-branch) != numpy", torch=t_br, numpy=br)
        if br > out or out != out_neg:
            raise Violation("clipped-branch > ratio-outside or ratio-outside depends on A", out=out, branch=br)
        if np.all(adv != 0) and abs(br + br_neg - out) > 1e-15:
            raise Violation("branch(A) + branch(-A) != outside", out=out, branch=br, branch_neg=br_neg)
        _, grad = _autograd_ppo(torch, TL, x["log_r"], adv, old, eps)
        r = np.exp(lp - old)
        edge = (np.abs(r - (1 - x["lo"])) < 1e-12) | (np.abs(r - (1 + x["hi"])) < 1e-12)
        # a gradient r A grad log pi that underflows to 0 (r ~ 1e-300) is not a clipped one
        edge |= (adv != 0) & (r * np.abs(adv) < 1e-290)
        if not edge.any() and abs(float(np.mean((grad == 0) & (adv != 0))) - br) > 1e-15:
            raise Violation("clipped-branch fraction != zero-gradient fraction", branch=br)
        return out - br

    return property_evidence(ctx, ppo_batches(), body, target_label="definition_gap",
                             summary="clipped-branch subset of ratio-outside; complementary in sign(A); "
                                     "== zero-gradient fraction")


claim(
    id="PPO-CLIP-FRACTION",
    title="Clip fraction: two definitions in use, and which one counts zeroed gradients",
    statement=r"\text{ratio-outside}=\overline{\mathbb 1\{r<1-\epsilon_l\vee r>1+\epsilon_h\}}\ \ge\ "
              r"\text{clipped-branch}=\overline{\mathbb 1\{(A>0\wedge r>1+\epsilon_h)\vee(A<0\wedge r<1-\epsilon_l)\}}"
              r"=\text{fraction of samples with zero gradient}",
    source=Source("OpenAI baselines ppo2 (clipfrac, approxkl); Schulman et al. (2017) PPO sec. 3"),
    family=FAMILY,
    expected="verified",
    checks=(clip_fraction_golden, clip_fraction_property),
    conventions=("'ratio-outside' = baselines ppo2, torchrl, SB3, CleanRL (sign of A ignored)",
                 "'clipped-branch' = verl pg_clipfrac, OpenRLHF clip_ratio, TRL (depends on the sign of A)",
                 "both strict at the band edges; mask selects the counted elements"),
    notes="The slides' 'Clip Fraction -- what percentage of samples fall outside of the trust region after a step' "
          "matches the ratio-outside definition; it is not the fraction of samples whose gradient is zeroed.",
)
