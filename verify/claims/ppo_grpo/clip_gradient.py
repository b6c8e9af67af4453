"""The gradient of the clipped objective by cases (PPO-CLIP-GRAD-CASES), the slides' case formula and their
"outside the threshold" statement.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath as mp
import numpy as np
from hypothesis import strategies as st

from reference_impls import gradients as G
from reference_impls import losses as L
from reference_impls import mdp as M
from verify.claims.ppo_grpo._common import (
    FAMILY,
    S1,
    SEED_FILE,
    _autograd_ppo,
    _rel,
    case_grad_factor,
    case_objective,
    ppo_batches,
    torch_mirrors,
)
from verify.harness import Violation, check, property_evidence
from verify.registry import CheckSkipped, Context, Evidence, Source, claim
from verify.seeds import seed_citation


@check("property")
def grad_cases_property(ctx: Context) -> Evidence:
    """Hypothesis: torch autograd of the mirror w.r.t. log_probs == A r 1{clip not strictly active}
    (ratios at least 1e-9 away from every band edge), and its value == the numpy reference."""
    torch, TL, _ = torch_mirrors()

    def body(x: dict[str, Any]) -> float:
        r = np.exp(x["log_r"])
        edges = [1 - x["lo"], 1 + x["hi"]] + ([x["c"]] if x["c"] else [])
        keep = np.all([np.abs(r - e) > 1e-9 for e in edges], axis=0)
        if not keep.any():
            return 0.0
        lr, adv, old = x["log_r"][keep], x["adv"][keep], x["old"][keep]
        val, grad = _autograd_ppo(torch, TL, lr, adv, old, (x["lo"], x["hi"]), x["c"])
        ref = L.ppo_clip_objective(old + lr, old, adv, (x["lo"], x["hi"]), dual_clip=x["c"])
        rr = np.exp((old + lr) - old)
        want = np.array([case_grad_factor(rr[k], adv[k], x["lo"], x["hi"], x["c"]) for k in range(len(adv))])
        err = float(np.max(np.abs(grad - want)))
        # torch.exp and numpy.exp may differ in the last ulp: values agree to 4 ulp
        if err > 1e-14 or not np.allclose(val, ref, rtol=4.5e-16, atol=0.0):
            raise Violation(f"autograd gradient differs from the case formula by {err:.3g} (or value != numpy)",
                            r=rr.tolist(), A=adv.tolist(), grad=grad.tolist(), want=want.tolist(), dual_clip=x["c"])
        return err

    return property_evidence(ctx, ppo_batches(), body, target_label="grad_error",
                             summary="autograd d/dlog pi == A r 1{not strictly clipped}; torch value == numpy")


def _tie_log_ratio(torch: Any, target: float, dtype: Any) -> float:
    """A float x (of ``dtype``) with torch.exp(x) == target exactly (searched among neighbours of log target)."""
    base = torch.tensor(math.log(target), dtype=dtype)
    for direction in (1.0, -1.0):
        v = base.clone()
        for _ in range(64):
            if float(torch.exp(v)) == target:
                return float(v)
            v = torch.nextafter(v, torch.tensor(direction * 100.0, dtype=dtype))
    raise CheckSkipped(f"no {dtype} float x with exp(x) == {target} exactly")


@check("exact")
def grad_cases_ties_and_expectation(ctx: Context) -> Evidence:
    """(1) Ties pinned: at r == 1+eps (A>0), r == 1-eps (A<0) and r == c (dual, A<0), exactly
    representable, the mirror's gradient is the unclipped A r, and so is the textbook
    torch.minimum/clamp formula (minimum splits 1/2:1/2 at ties and clamp passes its bounds);
    one-sided derivatives are A r and 0. (2) The otherwise case in expectation: on a tabular
    MDP with every ratio inside the band, E_{s~rho_old, a~pi_old}[grad L_CLIP] == grad L_old(theta')
    (TRPO surrogate, reference_impls.gradients), by autograd and linear algebra."""
    torch, TL, _ = torch_mirrors()
    figs: dict[str, Any] = {"torch_version": torch.__version__}
    ok = True
    for dtype in (torch.float64, torch.float32):
        name = str(dtype).replace("torch.", "")
        # c is a float whose log is representable so that exp(x) == c exactly for some x
        c3 = float(torch.exp(torch.tensor(math.log(3.0), dtype=dtype)))
        cases = [(1.25, 1.0, None, "r=1+eps,A>0"), (0.75, -1.0, None, "r=1-eps,A<0"), (c3, -1.0, c3, "r=c,A<0")]
        for target, a, c, label in cases:
            x = _tie_log_ratio(torch, target, dtype)
            lp = torch.tensor([x], dtype=dtype, requires_grad=True)
            old = torch.zeros(1, dtype=dtype)
            adv = torch.tensor([a], dtype=dtype)
            TL.ppo_clip_objective(lp, old, adv, 0.25, dual_clip=c).sum().backward()
            mirror = float(lp.grad[0])
            lp2 = torch.tensor([x], dtype=dtype, requires_grad=True)
            r = torch.exp(lp2 - old)
            naive = torch.minimum(r * adv, torch.clamp(r, 0.75, 1.25) * adv)
            if c is not None:
                naive = torch.where(adv < 0, torch.maximum(naive, c * adv), naive)
            naive.sum().backward()
            textbook = float(lp2.grad[0])
            figs[f"{name} {label}: mirror, textbook"] = [mirror, textbook]
            want = a * target
            # dual-clip tie: maximum splits 1/2:1/2 between r*A and c*A (c*A has no gradient)
            want_textbook = want / 2 if c is not None else want
            ok = ok and mirror == want and textbook == want_textbook
    figs["textbook at r=c (dual clip)"] = "A r / 2 (torch.maximum splits the tie with the constant c A)"
    # (2) MDP: all ratios inside the band -> expected gradient = surrogate gradient
    rng = ctx.rng("mdp")
    worst = 0.0
    for _ in range(5):
        mdp = M.random_mdp(rng, 4, 3, 0.9)
        z_old = rng.normal(size=(4, 3))
        z_new = z_old + 0.04 * rng.normal(size=(4, 3))
        pi_old = M.softmax(z_old)
        w = M.visitation(mdp, pi_old)[:, None] * pi_old
        zt = torch.tensor(z_new, dtype=torch.float64, requires_grad=True)
        lp = torch.log_softmax(zt, dim=-1)
        obj = TL.ppo_clip_objective(lp, torch.tensor(M.log_softmax(z_old)),
                                    torch.tensor(M.advantages(mdp, pi_old)), 0.2)
        (torch.tensor(w) * obj).sum().backward()
        ratios = M.softmax(z_new) / pi_old
        assert np.all(np.abs(ratios - 1) < 0.2)
        worst = max(worst, _rel(zt.grad.numpy(), G.surrogate_gradient(mdp, z_new, z_old)))
    figs["max_rel_gap_expected_clip_grad_vs_surrogate_grad"] = worst
    ok = ok and worst < 1e-12
    return Evidence("exact", bool(ok), "tie gradients pinned (mirror and textbook torch formula, float64 and float32); "
                    "in-band expected gradient == exact surrogate gradient on 5 random 4x3 MDPs", figs)


@check("high-precision")
def grad_cases_central_differences(ctx: Context) -> Evidence:
    """mpmath (40 digits) central differences of E_{a~old}[case value] w.r.t. the logits of a
    categorical policy equal the autograd gradient of the torch mirror (away from ties)."""
    torch, TL, _ = torch_mirrors()
    rng = ctx.rng()
    worst = 0.0
    n = 6
    with mp.workdps(40):
        h = mp.mpf(10) ** -15
        for k in range(n):
            z_old = rng.normal(size=5)
            z = z_old + 0.4 * rng.normal(size=5)
            adv = rng.normal(size=5)
            lo, hi, c = 0.2, 0.28, (3.0 if k % 2 else None)
            old = mp.matrix([mp.mpf(v) for v in M.softmax(z_old)])

            def F(zz: list[Any], old: Any = old, adv: Any = adv, lo: float = lo, hi: float = hi,
                  c: Any = c) -> Any:
                ez = [mp.exp(v) for v in zz]
                s = mp.fsum(ez)
                return mp.fsum(old[j] * case_objective(ez[j] / s / old[j], mp.mpf(adv[j]), mp.mpf(lo), mp.mpf(hi),
                                                       None if c is None else mp.mpf(c)) for j in range(5))

            zm = [mp.mpf(v) for v in z]
            fd = []
            for j in range(5):
                up, dn = list(zm), list(zm)
                up[j] += h
                dn[j] -= h
                fd.append(float((F(up) - F(dn)) / (2 * h)))
            zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
            obj = TL.ppo_clip_objective(torch.log_softmax(zt, -1), torch.tensor(M.log_softmax(z_old)),
                                        torch.tensor(adv), (lo, hi), dual_clip=c)
            (torch.tensor(M.softmax(z_old)) * obj).sum().backward()
            worst = max(worst, float(np.max(np.abs(zt.grad.numpy() - np.array(fd)))))
    return Evidence("high-precision", worst < 1e-12,
                    f"central differences (40 digits, h=1e-15) of the case-value objective == autograd "
                    f"({n} categoricals)",
                    {"max_abs_error": worst, "instances": n, "dps": 40, "seed": ctx.seed})


_SEED_GRAD_QUOTE = (r"$$\nabla_{\theta'} L_t^{\text{CLIP}}(\theta')|_{\theta} = \begin{cases} 0 & \text{if } "
                    r"w(s, a) \leq 1 - \epsilon \text{ and } A^{\pi_{\theta}} < 0 \\ 0 & \text{if } w(s, a) \geq "
                    r"1 + \epsilon \text{ and } A^{\pi_{\theta}} > 0 \\ \nabla_{\theta'} J(\theta')|_{\theta} & "
                    r"\text{otherwise} \end{cases}$$")


def seed_case_gradient(r: Any, a: Any, eps: Any) -> Any:
    """The slides' per-sample gradient w.r.t. log pi_theta' by cases, with the slides' J(theta')|_theta read as the
    surrogate E[w A] (their line 420), whose per-sample gradient w.r.t. log pi_theta' is w A."""
    if (r <= 1 - eps and a < 0) or (r >= 1 + eps and a > 0):
        return 0 * a
    return r * a


@check("exact")
def seed_grad_surrogate_reading_exact(ctx: Context) -> Evidence:
    """Tabular MDPs, theta' != theta with some ratios outside the band: the expected PPO-clip gradient (torch
    autograd of the reference mirror, weighted by rho_old pi_old) equals the slides' cases summed: 0 on the clipped
    (s, a), the gradient of the surrogate term rho pi_old w A elsewhere (computed from d pi / d z directly). The
    other reading, grad J at theta', differs (figure)."""
    torch, TL, _ = torch_mirrors()
    rng = ctx.rng()
    eps = 0.2
    worst, gap_j, clipped = 0.0, math.inf, 0
    for _ in range(5):
        mdp = M.random_mdp(rng, 4, 3, 0.9)
        z_old = rng.normal(size=(4, 3))
        z_new = z_old + 0.3 * rng.normal(size=(4, 3))
        pi_old, pi_new = M.softmax(z_old), M.softmax(z_new)
        rho, A = M.visitation(mdp, pi_old), M.advantages(mdp, pi_old)
        r = pi_new / pi_old
        zt = torch.tensor(z_new, dtype=torch.float64, requires_grad=True)
        obj = TL.ppo_clip_objective(torch.log_softmax(zt, -1), torch.tensor(M.log_softmax(z_old)),
                                    torch.tensor(A), eps)
        (torch.tensor(rho[:, None] * pi_old) * obj).sum().backward()
        g = zt.grad.numpy()
        want = np.zeros_like(z_new)
        for s_ in range(4):
            jac = np.diag(pi_new[s_]) - np.outer(pi_new[s_], pi_new[s_])  # d pi_new(a|s) / d z(s, .)
            for a_ in range(3):
                per = seed_case_gradient(r[s_, a_], A[s_, a_], eps)  # d/d log pi' of the sample's term
                clipped += per == 0 and A[s_, a_] != 0
                if per != 0:
                    want[s_] += rho[s_] * pi_old[s_, a_] * A[s_, a_] / pi_old[s_, a_] * jac[a_]
        worst = max(worst, _rel(g, want))
        gap_j = min(gap_j, _rel(g, G.policy_gradient(mdp, z_new)))
    passed = worst < 1e-12 and clipped > 0 and gap_j > 1e-3
    return Evidence("exact", passed,
                    f"E[grad L_CLIP] == the slides' cases with J(theta')|_theta the surrogate (max rel error "
                    f"{worst:.1e}, {clipped} clipped (s, a) in 5 MDPs); grad J(theta') differs by >= {gap_j:.3f}",
                    {"max_rel_error": worst, "clipped_pairs": clipped, "min_rel_gap_to_gradJ_new": gap_j,
                     "clip_eps": eps, "instances": 5, "seed": ctx.seed},
                    counterexample=None if passed else {"max_rel_error": worst, "clipped_pairs": clipped})


@check("high-precision")
def seed_grad_cases_high_precision(ctx: Context) -> Evidence:
    """mpmath (40 digits): central differences in x = log pi' of the PPO case objective at ratios r on a grid on
    both sides of both band edges (ties excluded) and A of both signs equal the slides' cases (0 or w A); the same
    differences reject a mutant with the two zero cases swapped."""
    eps = mp.mpf("0.2")
    h = mp.mpf(10) ** -15
    worst, mutant_worst, n = mp.mpf(0), mp.mpf(0), 0
    with mp.workdps(40):
        for r in ("0.5", "0.79", "0.81", "0.95", "1", "1.1", "1.19", "1.21", "1.6"):
            for a in ("-2", "-0.5", "0.5", "3"):
                rr, aa = mp.mpf(r), mp.mpf(a)
                x = mp.log(rr)
                fd = (case_objective(mp.exp(x + h), aa, eps, eps)
                      - case_objective(mp.exp(x - h), aa, eps, eps)) / (2 * h)
                worst = max(worst, abs(fd - seed_case_gradient(rr, aa, eps)))
                swapped = 0 * aa if (rr <= 1 - eps and aa > 0) or (rr >= 1 + eps and aa < 0) else rr * aa
                mutant_worst = max(mutant_worst, abs(fd - swapped))
                n += 1
    passed = worst < mp.mpf(10) ** -12 and mutant_worst > mp.mpf("0.1")
    return Evidence("high-precision", bool(passed),
                    f"d case-objective / d log pi' == the slides' cases on {n} (r, A) points (max error "
                    f"{float(worst):.1e}); the swapped-cases mutant is off by {float(mutant_worst):.2f}",
                    {"max_abs_error": float(worst), "mutant_max_error": float(mutant_worst), "points": n, "dps": 40})


claim(
    id="SEED-001-PPO-CLIP-GRAD",
    title="Slides: PPO-clip gradient is 0 if w <= 1-eps (A<0) or w >= 1+eps (A>0), else grad J(theta')|_theta",
    statement=r"\nabla_{\theta'}L^{CLIP}_t(\theta')|_\theta=0\ \text{if } w\le 1-\epsilon, A<0;\ 0\ \text{if } "
              r"w\ge 1+\epsilon, A>0;\ \nabla_{\theta'}J(\theta')|_\theta\ \text{otherwise}",
    source=Source(seed_citation(SEED_FILE, "line 654 (again at lines 661, 681, 708)"),
                  quote=_SEED_GRAD_QUOTE, seed_file=SEED_FILE),
    family=FAMILY,
    expected="verified",
    kind="seed-statement",
    checks=(seed_grad_surrogate_reading_exact, seed_grad_cases_high_precision),
    conventions=("w = pi_theta'(a|s) / pi_theta(a|s); gradient w.r.t. the logits of a tabular softmax policy",),
    reading="The slides define J(theta')|_theta on line 420 as the approximate return from old samples, "
            "E[(pi_theta'/pi_theta) gamma^t A] -- the surrogate. In that notation the 'otherwise' case is the "
            "surrogate's per-sample gradient w A grad log pi_theta', which is what PPO-clip's gradient is; the "
            "earlier verdict read J as the true return. Whether the zero cases include the ties w = 1 +- eps "
            "(where the gradient has two one-sided values) is an equality case, a note.",
    notes="The value cases on the previous line of the slides are right (PPO-CLIP-OBJECTIVE). At a tie (w exactly "
          "1 +- eps) autograd returns the unclipped w A, not the slides' 0; PPO-CLIP-GRAD-CASES pins that "
          "convention.",
)


claim(
    id="PPO-CLIP-GRAD-CASES",
    title="PPO-clip per-sample gradient by cases, with the tie convention pinned",
    statement=r"\frac{\partial L^{CLIP}_t}{\partial\log\pi_{\theta'}(a_t|s_t)}=A_t r_t\,"
              r"\mathbb 1\{\neg[(A_t>0\wedge r_t>1+\epsilon_h)\vee(A_t<0\wedge r_t<1-\epsilon_l)"
              r"\vee(\text{dual}\wedge A_t<0\wedge r_t>c)]\},\ "
              r"\mathbb E_{s\sim\rho_{old},a\sim\pi_{old}}[\nabla L^{CLIP}]=\nabla_{\theta'}L_{\theta}(\theta')"
              r"\ \text{when all } r\in[1-\epsilon_l,1+\epsilon_h]",
    source=Source("Schulman et al. (2017) PPO, sec. 3 (eq. 7 and Fig. 1); tie behaviour: pytorch#56734, PR #43519"),
    family=FAMILY,
    expected="verified",
    kind="theorem",
    checks=(grad_cases_property, grad_cases_ties_and_expectation, grad_cases_central_differences),
    conventions=("gradient w.r.t. log pi (multiply by grad log pi for the parameter gradient)",
                 "ties (r exactly on an edge): the unclipped gradient A r, in the torch mirror and in the textbook "
                 "torch.minimum/clamp formula (torch 2.x); one-sided derivatives are A r and 0",
                 "dual-clip tie r == c: mirror A r; textbook torch.maximum gives A r / 2"),
    uses=("PPO-CLIP-OBJECTIVE",),
)


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
