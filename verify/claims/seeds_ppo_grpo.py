"""The slides' (seed 001) reading of PPO-clip's threshold, "Allows steps that bring policy OUTSIDE of threshold /
Restricts steps that can be taken once outside", judged under the reading rule. Registers into ``ppo-grpo``."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from reference_impls import losses as L
from reference_impls import mdp as M
from verify.claims.ppo_grpo import torch_mirrors
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.seeds import seed_citation

FAMILY = "ppo-grpo"
S1 = "001_7cd217662ff5462a.txt"


@check("exact")
def outside_threshold_exact(ctx: Context) -> Evidence:
    """A 4-action softmax, one sample with A > 0 (and one with A < 0), starting at theta' = theta (w = 1, inside):
    the clipped objective's gradient (torch autograd of the reference mirror) is the unclipped one, and a single
    gradient step of size eta = 2 carries w past 1 + eps (past 1 - eps for A < 0) -- allowed. At the new point the
    sample's gradient is exactly 0 -- further steps are restricted."""
    torch, TL, _ = torch_mirrors()
    eps = 0.2
    rows = []
    ok = True
    for action, adv in ((1, 1.0), (2, -1.0)):
        z_old = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
        old_lp = M.log_softmax(z_old)[action]

        def grad_at(z: np.ndarray, action: int = action, adv: float = adv, old_lp: float = old_lp) -> np.ndarray:
            zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
            lp = torch.log_softmax(zt, -1)[action]
            TL.ppo_clip_objective(lp, torch.tensor(old_lp, dtype=torch.float64), torch.tensor(adv,
                                  dtype=torch.float64), eps).backward()
            return zt.grad.numpy()

        g0 = grad_at(z_old)
        unclipped = adv * (np.eye(4)[action] - M.softmax(z_old))  # w A grad log pi at w = 1
        z1 = z_old + 2.0 * g0
        w1 = float(np.exp(M.log_softmax(z1)[action] - old_lp))
        g1 = grad_at(z1)
        outside = w1 > 1 + eps if adv > 0 else w1 < 1 - eps
        ok &= bool(np.max(np.abs(g0 - unclipped)) < 1e-15 and outside and np.all(g1 == 0.0))
        rows.append({"advantage": adv, "ratio_after_one_step": w1, "grad_norm_inside": float(np.linalg.norm(g0)),
                     "grad_norm_outside": float(np.linalg.norm(g1))})
    return Evidence("exact", ok, "one step from w = 1 lands outside the band "
                    f"(w = {rows[0]['ratio_after_one_step']:.3f} for A > 0, {rows[1]['ratio_after_one_step']:.3f} for "
                    "A < 0); there the sample's gradient is 0", {"rows": rows, "clip_eps": eps, "step_size": 2.0})


@check("property")
def outside_threshold_property(ctx: Context) -> Evidence:
    """Hypothesis (log ratio, A != 0, eps): the derivative in log pi' of the reference objective (numpy
    ppo_clip_objective, central differences) is w A inside the band (steps toward the edge are not held back) and 0
    beyond the edge the advantage pushes toward (steps further out are stopped); on the other side it is w A again
    (steps back in are allowed)."""

    def body(x: tuple[float, float, float]) -> float | None:
        log_r, adv, eps = x
        r = float(np.exp(log_r))
        if min(abs(r - 1 - eps), abs(r - 1 + eps)) < 1e-6:
            return None  # ties: a one-sided matter, see PPO-CLIP-GRAD-CASES
        h = 1e-7
        obj = L.ppo_clip_objective(np.array([log_r + h, log_r - h]), np.zeros(2), np.array([adv, adv]), eps)
        fd = float(obj[0] - obj[1]) / (2 * h)
        beyond = (adv > 0 and r > 1 + eps) or (adv < 0 and r < 1 - eps)
        want = 0.0 if beyond else r * adv
        if abs(fd - want) > 1e-5 * max(1.0, abs(want)):
            raise Violation("derivative != the threshold rule", log_r=log_r, adv=adv, eps=eps, fd=fd, want=want)
        return abs(r - 1) / eps

    strat = st.tuples(st.floats(-1.0, 1.0), st.one_of(st.floats(0.1, 3.0), st.floats(-3.0, -0.1)),
                      st.floats(0.05, 0.4))
    return property_evidence(ctx, strat, body, target_label="|w - 1| / eps",
                             summary="d L_CLIP / d log pi' = w A inside or on the other side, 0 beyond the edge A "
                                     "pushes toward")


claim(
    id="SEED-S1-PPO-OUTSIDE-THRESHOLD",
    title="S1: PPO-clip 'Allows steps that bring policy OUTSIDE of threshold', 'Restricts steps ... once outside'",
    statement=r"|w-1|<\epsilon\Rightarrow\nabla L^{CLIP}_t=wA\nabla\log\pi_{\theta'}\ne0\ \text{(a step may cross the "
              r"edge)};\ (A>0,w>1+\epsilon)\vee(A<0,w<1-\epsilon)\Rightarrow\nabla L^{CLIP}_t=0",
    source=Source(seed_citation(S1, "lines 665-674 ('Nearby ratio = step freely')"),
                  quote="Allows steps that bring policy OUTSIDE of threshold … Restricts steps that can be taken once "
                        "outside", seed_file=S1),
    family=FAMILY,
    kind="seed-statement",
    expected="verified",
    checks=(outside_threshold_exact, outside_threshold_property),
    conventions=("w = pi_theta'(a|s) / pi_theta(a|s); one sample's term of L_CLIP",),
    reading="Read with the slide's previous line ('Nearby ratio = step freely', |w - 1| < eps): inside the band "
            "nothing stops a step from crossing the edge, and once outside on the side the advantage favours the "
            "sample no longer pushes. Both hold; 'restricts' is read as 'stops pushing further out' -- steps back "
            "into the band keep the unclipped gradient, a note.",
    notes="This is why PPO is not a hard trust region: a large learning rate or many epochs can carry ratios far "
          "outside the band (the clip fraction measures how many).",
)
