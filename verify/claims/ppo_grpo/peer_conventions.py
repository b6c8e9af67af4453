"""The peers' conventions and their exact effect on a fixed example (PEER-CONVENTIONS)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import divergences as D
from reference_impls import losses as L
from verify.claims.ppo_grpo._common import _CF_A, _CF_R, FAMILY, MODES
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim

# =========================================================================== peers' conventions

_STD_REWARDS = np.array([1.0, 0.0, 0.0, 0.0])


_AGG_VALUES = np.array([[1.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.0]])


_AGG_MASK = np.array([[1, 0, 0, 0], [1, 1, 1, 0]], dtype=bool)


def peer_convention_effects() -> list[dict[str, Any]]:
    """Each convention on which peers differ, evaluated with our reference functions on one fixed
    example (conventions from the peers' documentation; no peer code is imported)."""
    lp, old = np.log(_CF_R), np.zeros(8)
    rows: list[dict[str, Any]] = []
    out = L.clip_fraction(lp, old, _CF_A, 0.2, definition="ratio-outside")
    br = L.clip_fraction(lp, old, _CF_A, 0.2, definition="clipped-branch")
    rows.append({"topic": "clip fraction", "a": "ratio-outside \\|r-1\\| > eps (baselines, torchrl, SB3, CleanRL)",
                 "b": "clipped branch active (verl, OpenRLHF, TRL)", "example": "r=(1.3,1.3,0.7,0.7,1.1,0.9,1.3,0.7), "
                 "A=(1,-1,1,-1,1,-1,0,0), eps=0.2", "value_a": out, "value_b": br, "effect": out - br})
    for eps_b, who in ((1e-6, "verl eps 1e-6"), (1e-9, "OpenRLHF eps 1e-9")):
        a_pop = L.grpo_advantages(_STD_REWARDS, std="population", eps=eps_b)[0]
        a_s = L.grpo_advantages(_STD_REWARDS, std="sample", eps=eps_b)[0]
        rows.append({"topic": "GRPO std", "a": f"population, ddof 0 (numpy default), {who}",
                     "b": f"sample, ddof 1 (torch.std; verl, OpenRLHF), {who}", "example": "rewards (1,0,0,0), A_1",
                     "value_a": a_pop, "value_b": a_s, "effect": a_pop / a_s})
    aggs = {m: L.aggregate(_AGG_VALUES, _AGG_MASK, m) for m in MODES}
    rows.append({"topic": "default aggregation", "a": "token-mean (verl vanilla default, OpenRLHF token_level_loss, "
                 "TRL dapo/bnpo)", "b": "seq-mean-token-mean (TRL grpo, GRPO paper)",
                 "example": "per-token values (1; 0.2, 0.2, 0.2), lengths 1 and 3",
                 "value_a": aggs["token-mean"], "value_b": aggs["seq-mean-token-mean"],
                 "effect": aggs["token-mean"] - aggs["seq-mean-token-mean"]})
    rows.append({"topic": "default aggregation", "a": "seq-mean-token-sum-norm, N = 4 (TRL dr_grpo, verl)",
                 "b": "seq-mean-token-sum", "example": "same", "value_a": aggs["seq-mean-token-sum-norm"],
                 "value_b": aggs["seq-mean-token-sum"],
                 "effect": aggs["seq-mean-token-sum-norm"] - aggs["seq-mean-token-sum"]})
    ours = L.ppo_clip_objective(np.array([25.0]), np.zeros(1), np.array([-1.0]), 0.2)[0]
    clamped = L.ppo_clip_objective(np.clip(np.array([25.0]), -20, 20), np.zeros(1), np.array([-1.0]), 0.2)[0]
    rows.append({"topic": "log-ratio clamp", "a": "none (ours, TRL)", "b": "log r clamped to +-20 (verl, OpenRLHF)",
                 "example": "log r = 25, A = -1, eps = 0.2", "value_a": ours, "value_b": clamped,
                 "effect": ours - clamped})
    k3 = float(D.kl_estimator(np.zeros(1), np.array([-15.0]), "k3")[0])
    rows.append({"topic": "k3 clamp", "a": "none (ours)", "b": "k3 output clamped to [-10, 10] (verl, OpenRLHF)",
                 "example": "log r = -15", "value_a": k3, "value_b": min(k3, 10.0), "effect": k3 - min(k3, 10.0)})
    dual = L.ppo_clip_objective(np.log([4.0]), np.zeros(1), np.array([-1.0]), 0.2, dual_clip=3.0)[0]
    plain = L.ppo_clip_objective(np.log([4.0]), np.zeros(1), np.array([-1.0]), 0.2)[0]
    rows.append({"topic": "dual clip", "a": "off (PPO paper; opt-in in OpenRLHF, tianshou)",
                 "b": "always on for A<0, c = 3 (verl vanilla)", "example": "r = 4, A = -1", "value_a": plain,
                 "value_b": dual, "effect": plain - dual})
    try:
        import torch

        import reference_impls.torch.divergences as TD

        lr = 1e-4
        k64 = float(D.kl_estimator(np.zeros(1), np.array([lr]), "k3")[0])
        k32 = float(TD.kl_estimator(torch.zeros(1, dtype=torch.float32), torch.tensor([lr], dtype=torch.float32),
                                    "k3")[0])
        rows.append({"topic": "KL precision", "a": "float64 (ours)", "b": "float32 cast (OpenRLHF compute_approx_kl)",
                     "example": "k3 at log r = 1e-4", "value_a": k64, "value_b": k32, "effect": (k32 - k64) / k64})
    except ImportError:  # pragma: no cover
        pass
    return rows


def peer_conventions_table() -> str:
    lines = ["| topic | convention A | convention B | fixed example | A | B | effect (A - B, or A/B for std, "
             "relative for precision) |", "|---|---|---|---|---|---|---|"]
    for r in peer_convention_effects():
        lines.append(f"| {r['topic']} | {r['a']} | {r['b']} | {r['example']} | {r['value_a']:.10g} | "
                     f"{r['value_b']:.10g} | {r['effect']:.10g} |")
    return "\n".join(lines)


@check("exact")
def peer_effects_exact(ctx: Context) -> Evidence:
    """Every effect in the table equals its closed form: 1/2 clip-fraction gap; A_pop/A_sample =
    (sd_s + eps)/(sd_p + eps); aggregation gaps from the exact weights; e^20 - e^25; k3 - 10 =
    e^-15 + 4; dual clip -1; float32 k3 relative error below 1e-3 but above float64's 1e-12."""
    rows = peer_convention_effects()
    eff = [r["effect"] for r in rows]
    sd_p, sd_s = math.sqrt(3) / 4, 0.5
    want = [0.5, (sd_s + 1e-6) / (sd_p + 1e-6), (sd_s + 1e-9) / (sd_p + 1e-9),
            (1.0 + 0.6) / 4 - (1.0 + 0.2) / 2, (1.6 / 2) / 4 - 1.6 / 2, math.exp(20) - math.exp(25),
            math.exp(-15) + 4.0, -1.0]
    errs = [abs(a - b) / max(1.0, abs(b)) for a, b in zip(eff, want)]
    ok = max(errs) < 1e-12
    if len(rows) > len(want):
        ok = ok and 1e-12 < abs(eff[-1]) < 1e-3
    return Evidence("exact", ok, "table effects == closed forms", {"effects": eff, "closed_forms": want,
                                                                   "max_relative_error": max(errs)})


@check("property")
def peer_effects_property(ctx: Context) -> Evidence:
    """Hypothesis: the log-ratio clamp at +-20 changes nothing while |log r| <= 20; the std
    conventions differ by the factor (sd_s + eps)/(sd_p + eps) on random groups."""
    strat = st.tuples(st.lists(st.floats(-20, 20), min_size=4, max_size=4),
                      st.lists(st.floats(-3, 3), min_size=4, max_size=4),
                      st.lists(st.floats(-5, 5), min_size=2, max_size=8))

    def body(x: tuple[list[float], list[float], list[float]]) -> float:
        lr, a, g = np.array(x[0]), np.array(x[1]), np.array(x[2])
        ours = L.ppo_clip_objective(lr, np.zeros(4), a, 0.2)
        clamped = L.ppo_clip_objective(np.clip(lr, -20, 20), np.zeros(4), a, 0.2)
        if np.any(ours != clamped):
            raise Violation("clamp changed a value with |log r| <= 20")
        ap, as_ = L.grpo_advantages(g, std="population"), L.grpo_advantages(g, std="sample")
        fac = (np.std(g, ddof=1) + 1e-6) / (np.std(g) + 1e-6)
        err = float(np.max(np.abs(ap - as_ * fac)))
        if err > 1e-9:
            raise Violation("std conventions do not differ by the stated factor", error=err)
        return err

    return property_evidence(ctx, strat, body, target_label="error",
                             summary="clamp is inert for |log r| <= 20; std-convention factor exact")


claim(
    id="PEER-CONVENTIONS",
    title="Where peers' conventions differ, and the exact effect of each on a fixed example",
    statement=r"\text{clip fraction, std convention, aggregation, clamps, dual clip and precision change the "
              r"numbers by the amounts in the table (computed with the reference functions)}",
    source=Source("Documented conventions of peer libraries (rlax, TRL, verl, Stable-Baselines3, CleanRL; their "
                  "documentation, no peer code run here)"),
    family=FAMILY,
    expected="verified",
    kind="implementation",
    checks=(peer_effects_exact, peer_effects_property),
    notes="Peers' conventions that differ, each evaluated on a fixed example with our reference functions:\n\n"
          + peer_conventions_table(),
)
