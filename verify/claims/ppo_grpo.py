"""PPO, GRPO, GSPO and SAPO objectives (CLAIMS-CATALOGUE.md, section D), the slides' PPO
statements as written (seed 001), the loss-aggregation length bias, and a table of the
peers' conventions with their exact effect on a fixed example.

Expected gradients are exact: enumeration over a categorical, a tabular MDP (linear
algebra) or a small token tree (a tabular autoregressive model), never sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import divergences as D
from reference_impls import gradients as G
from reference_impls import losses as L
from reference_impls import mdp as M
from verify.harness import Violation, check, property_evidence, symbolic_evidence
from verify.registry import CheckSkipped, Context, Evidence, Source, claim

FAMILY = "ppo-grpo"
SEED_FILE = "001_7cd217662ff5462a.txt"

# --------------------------------------------------------------------------- shared pieces


def torch_or_skip() -> Any:
    """The torch module, or :class:`CheckSkipped` when torch is not installed."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in CI
        raise CheckSkipped("needs torch (pip install pg-verify[torch])") from exc
    return torch


def torch_mirrors() -> tuple[Any, Any, Any]:
    """``(torch, reference_impls.torch.losses, reference_impls.torch.divergences)``, resolved
    at call time so a monkeypatched reference function is seen."""
    torch = torch_or_skip()
    import reference_impls.torch.divergences as TD
    import reference_impls.torch.losses as TL

    return torch, TL, TD


def case_objective(r: Any, a: Any, lo: Any, hi: Any, c: Any = None) -> Any:
    """The PPO objective by cases (the slides' value table, which is right), written
    independently of the reference: works for Fractions, mpmath numbers and floats.

    A > 0: (1+hi) A if r > 1+hi else r A.  A < 0: (1-lo) A if r < 1-lo else r A; with dual
    clip c: c A if r > c.  A == 0: 0.
    """
    if a > 0:
        return (1 + hi) * a if r > 1 + hi else r * a
    if a < 0:
        if c is not None and r > c:
            return c * a
        return (1 - lo) * a if r < 1 - lo else r * a
    return 0 * a


def case_grad_factor(r: float, a: float, lo: float, hi: float, c: float | None = None) -> float:
    """d objective / d log pi by cases: ``A r`` unless the clip is strictly active (then 0)."""
    zeroed = (a > 0 and r > 1 + hi) or (a < 0 and r < 1 - lo) or (c is not None and a < 0 and r > c)
    return 0.0 if zeroed else a * r


@dataclass(frozen=True)
class TokenTree:
    """All responses of a tabular autoregressive model, enumerated.

    Tokens ``0..vocab-1`` are ordinary; with ``eos`` token ``vocab`` ends the response.
    A response stops at EOS or after ``horizon`` tokens. ``logits[prefix, token]`` holds one
    softmax row per non-terminal prefix. Arrays ``[N, horizon]``: ``prefix`` (row of the
    logits used at step t), ``token`` and ``mask`` (True on real tokens).
    """

    vocab: int
    horizon: int
    eos: bool
    prefixes: tuple[tuple[int, ...], ...]
    prefix: np.ndarray
    token: np.ndarray
    mask: np.ndarray

    @property
    def n_tokens(self) -> int:
        return self.vocab + (1 if self.eos else 0)

    @property
    def n_seq(self) -> int:
        return int(self.mask.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        return self.mask.sum(axis=-1)

    def token_log_probs(self, logits: np.ndarray) -> np.ndarray:
        """``[N, T]`` log pi(y_t | y_<t), 0 on padding."""
        lsm = M.log_softmax(logits)
        return np.where(self.mask, lsm[self.prefix, self.token], 0.0)

    def seq_probs(self, logits: np.ndarray) -> np.ndarray:
        return np.exp(self.token_log_probs(logits).sum(axis=-1))

    def token_log_probs_torch(self, torch: Any, logits: Any) -> Any:
        lsm = torch.log_softmax(logits, dim=-1)
        pre = torch.as_tensor(self.prefix, device=logits.device)
        tok = torch.as_tensor(self.token, device=logits.device)
        m = torch.as_tensor(self.mask, device=logits.device)
        return torch.where(m, lsm[pre, tok], torch.zeros((), dtype=logits.dtype, device=logits.device))

    def token_scores(self, logits: np.ndarray) -> np.ndarray:
        """``[N, T, P*K]``: d log pi(y_t|y_<t) / d logits (closed form e_token - softmax, in the prefix row)."""
        pi = M.softmax(logits)
        n_p, k = logits.shape
        out = np.zeros((*self.mask.shape, n_p * k))
        for i in range(self.n_seq):
            for t in range(self.horizon):
                if self.mask[i, t]:
                    p = self.prefix[i, t]
                    out[i, t, p * k:(p + 1) * k] = -pi[p]
                    out[i, t, p * k + self.token[i, t]] += 1.0
        return out


def token_tree(vocab: int = 2, horizon: int = 3, eos: bool = True) -> TokenTree:
    k = vocab + (1 if eos else 0)
    prefixes: list[tuple[int, ...]] = [()]
    seqs: list[list[tuple[int, int]]] = []
    frontier: list[tuple[tuple[int, ...], list[tuple[int, int]]]] = [((), [])]
    while frontier:
        pre, steps = frontier.pop(0)
        p_idx = prefixes.index(pre)
        for tok in range(k):
            st_ = [*steps, (p_idx, tok)]
            if (eos and tok == vocab) or len(st_) == horizon:
                seqs.append(st_)
            else:
                new = (*pre, tok)
                prefixes.append(new)
                frontier.append((new, st_))
    n = len(seqs)
    prefix = np.zeros((n, horizon), dtype=np.int64)
    token = np.zeros((n, horizon), dtype=np.int64)
    mask = np.zeros((n, horizon), dtype=bool)
    for i, s in enumerate(seqs):
        for t, (p, tok) in enumerate(s):
            prefix[i, t], token[i, t], mask[i, t] = p, tok, True
    return TokenTree(vocab, horizon, eos, tuple(prefixes), prefix, token, mask)


def tree_logits(tree: TokenTree, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    return scale * rng.normal(size=(len(tree.prefixes), tree.n_tokens))


def group_expectation(tree: TokenTree, logits: np.ndarray, group: int, coef_fn: Any) -> np.ndarray:
    """Exact ``E[sum_i c_i(group) score(y_i)]`` over i.i.d. groups of ``group`` responses.

    ``coef_fn(idx [M, G]) -> [M, G]`` gives the coefficient of each member's sequence score
    ``d log pi(y_i) / d logits`` for every one of the ``N^G`` groups.
    """
    probs = tree.seq_probs(logits)
    idx = np.stack(np.meshgrid(*[np.arange(tree.n_seq)] * group, indexing="ij"), -1).reshape(-1, group)
    w = np.prod(probs[idx], axis=-1)
    coef = coef_fn(idx) * w[:, None]
    per_seq = np.zeros(tree.n_seq)
    np.add.at(per_seq, idx.ravel(), coef.ravel())
    seq_scores = tree.token_scores(logits).sum(axis=1)
    return per_seq @ seq_scores


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1e-300, float(np.max(np.abs(b)))))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


_FLOATS = {"allow_nan": False, "allow_infinity": False}


@st.composite
def ppo_batches(draw: st.DrawFn, n: int = 12) -> dict[str, Any]:
    """log-ratios in [-1, 1], advantages with both signs and zeros, eps (maybe asymmetric), dual clip."""
    log_r = np.array(draw(st.lists(st.floats(-1.0, 1.0, **_FLOATS), min_size=n, max_size=n)))
    adv = np.array(draw(st.lists(st.one_of(st.floats(-3.0, 3.0, **_FLOATS), st.just(0.0)), min_size=n, max_size=n)))
    lo = draw(st.floats(0.01, 0.6))
    hi = draw(st.one_of(st.just(lo), st.floats(0.01, 0.6)))
    c = draw(st.one_of(st.none(), st.floats(1.05, 3.0)))
    old = np.array(draw(st.lists(st.floats(-3.0, 0.0, **_FLOATS), min_size=n, max_size=n)))
    return {"log_r": log_r, "adv": adv, "lo": lo, "hi": hi, "c": c, "old": old}


# =========================================================================== PPO-CLIP-OBJECTIVE


@check("exact")
def ppo_clip_exact_grid(ctx: Context) -> Evidence:
    """Rational grid of ratios (band edges, ties, dual-clip points) and advantages: the
    float64 reference equals the exact case value within 2 ulp of its magnitude."""
    eps_pairs = [(Fraction(1, 5), Fraction(1, 5)), (Fraction(1, 5), Fraction(7, 25)), (Fraction(1, 4), Fraction(1, 8))]
    ratios = sorted({Fraction(k, 20) for k in range(1, 81)} | {Fraction(3, 4), Fraction(5, 4), Fraction(9, 8)})
    advs = [Fraction(-3, 2), Fraction(-1), Fraction(0), Fraction(1, 3), Fraction(2)]
    worst, n = 0.0, 0
    for lo, hi in eps_pairs:
        for c in (None, Fraction(3)):
            rr = np.array([float(r) for r in ratios for _ in advs])
            aa = np.array([float(a) for _ in ratios for a in advs])
            # ratios are passed in log space; exp(log r) is within 1 ulp of r
            got = L.ppo_clip_objective(np.log(rr), np.zeros_like(rr), aa, (float(lo), float(hi)),
                                       dual_clip=None if c is None else float(c))
            k = 0
            for r in ratios:
                for a in advs:
                    want = case_objective(r, a, lo, hi, c)
                    # a ratio within 1 ulp of a band edge may land on either side: compare
                    # with both neighbours' exact values
                    rf = Fraction(float(np.exp(np.log(float(r)))))
                    want2 = case_objective(rf, a, lo, hi, c)
                    err = min(abs(float(want) - got[k]), abs(float(want2) - got[k])) / max(1.0, abs(float(want)))
                    worst = max(worst, err)
                    k += 1
                    n += 1
    passed = worst <= 4.5e-16
    return Evidence("exact", passed, f"reference == exact rational case values on {n} grid points "
                    "(3 eps pairs incl. asymmetric, with and without dual clip c=3)",
                    {"points": n, "max_relative_error": worst, "tolerance": 4.5e-16})


@check("property")
def ppo_clip_property(ctx: Context) -> Evidence:
    """Hypothesis: reference == case formula; L_CLIP <= L_CPI = rA; equality when 1-lo <= r <= 1+hi;
    dual clip: >= cA for A<0 and unchanged for A>=0."""
    def body(x: dict[str, Any]) -> float:
        lp = x["old"] + x["log_r"]
        r = np.exp(lp - x["old"])
        obj = L.ppo_clip_objective(lp, x["old"], x["adv"], (x["lo"], x["hi"]), dual_clip=x["c"])
        plain = L.ppo_clip_objective(lp, x["old"], x["adv"], (x["lo"], x["hi"]))
        cpi = r * x["adv"]
        worst = 0.0
        for k in range(len(r)):
            want = case_objective(r[k], x["adv"][k], x["lo"], x["hi"], x["c"])
            err = abs(obj[k] - want)
            worst = max(worst, err)
            if err > 1e-14:
                raise Violation("reference != case formula", r=r[k], A=x["adv"][k], got=obj[k], want=want,
                                eps=(x["lo"], x["hi"]), dual_clip=x["c"])
        if np.any(plain > cpi + 1e-15):
            raise Violation("L_CLIP > L_CPI", r=r.tolist(), A=x["adv"].tolist())
        inside = (r >= 1 - x["lo"]) & (r <= 1 + x["hi"])
        if np.any(np.abs(plain - cpi)[inside] > 1e-15):
            raise Violation("L_CLIP != L_CPI inside the band")
        if x["c"] is not None:
            neg = x["adv"] < 0
            if np.any(obj[neg] < x["c"] * x["adv"][neg] - 1e-15) or np.any(obj[~neg] != plain[~neg]):
                raise Violation("dual clip: not >= cA on A<0 or changed A>=0", dual_clip=x["c"])
        return worst

    return property_evidence(ctx, ppo_batches(), body, target_label="case_error",
                             summary="ppo_clip_objective == case formula; L_CLIP <= L_CPI with equality in the band; "
                                     "dual clip only lifts A<0 to >= cA")


@check("symbolic")
def ppo_clip_symbolic(ctx: Context) -> Evidence:
    """sympy, region by region with symbolic eps in (0,1), A > 0 and a free positive offset t:
    min(rA, clip(r)A) equals the case value in each of the six (sign, region) cells."""
    k, t, a, u = sp.symbols("k t a u", positive=True)
    eps = 1 / (1 + k)  # eps in (0, 1)

    def clipf(r: sp.Expr) -> sp.Expr:
        return sp.Min(sp.Max(r, 1 - eps), 1 + eps)

    cells = []
    # r below the band: r = (1 - eps) / (1 + t); inside: r = 1 - eps + 2 eps u/(1+u); above: r = 1 + eps + t
    regions = {"below": (1 - eps) / (1 + t), "inside": 1 - eps + 2 * eps * u / (1 + u), "above": 1 + eps + t}
    expected = {("+", "below"): None, ("+", "inside"): None, ("+", "above"): (1 + eps) * a,
                ("-", "below"): -(1 - eps) * a, ("-", "inside"): None, ("-", "above"): None}
    total = sp.Integer(0)
    for sign, s in (("+", 1), ("-", -1)):
        for name, r in regions.items():
            val = sp.Min(r * s * a, clipf(r) * s * a)
            want = expected[(sign, name)]
            want = r * s * a if want is None else want
            diff = sp.simplify(val - want)
            cells.append(f"{sign}{name}: {diff == 0}")
            total += diff**2
    return symbolic_evidence(total, "min(rA, clip(r,1-eps,1+eps)A) == case table in all six cells (sympy)",
                             cells=cells)


claim(
    id="PPO-CLIP-OBJECTIVE",
    title="PPO clipped objective: cases, pessimism, exact agreement inside the band, dual clip",
    statement=r"L^{CLIP}=\min(rA,\mathrm{clip}(r,1-\epsilon_l,1+\epsilon_h)A)\le rA=L^{CPI},"
              r"\ \text{with equality whenever } 1-\epsilon_l\le r\le 1+\epsilon_h;"
              r"\ \text{dual clip } (c>1):\ L=\max(L^{CLIP},cA)\ \text{for } A<0,\ L=L^{CLIP}\ \text{for } A\ge 0",
    source=Source("Schulman et al. (2017) PPO, sec. 3, eq. (7); Ye et al. (2020) dual clip, eq. (5)"),
    family=FAMILY,
    expected="verified",
    checks=(ppo_clip_exact_grid, ppo_clip_property, ppo_clip_symbolic),
    conventions=("per-element objective to be maximised; r = exp(log_probs - old_log_probs)",
                 "clip_eps a float or (eps_low, eps_high), each in (0, 1)",
                 "dual clip applies to A < 0 only (tianshou #433 applied it to A > 0)"),
    notes="L^CLIP bounds the unclipped surrogate, not J, and does not bound the ratio: r can leave the band "
          "(the slides: 'Allows steps that bring policy OUTSIDE of threshold').",
)

# =========================================================================== PPO clip gradient


def _autograd_ppo(torch: Any, TL: Any, log_r: np.ndarray, adv: np.ndarray, old: np.ndarray, clip_eps: Any,
                  dual_clip: Any = None, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    dt = dtype or torch.float64
    lp = torch.tensor(old + log_r, dtype=dt, requires_grad=True)
    obj = TL.ppo_clip_objective(lp, torch.tensor(old, dtype=dt), torch.tensor(adv, dtype=dt), clip_eps,
                                dual_clip=dual_clip)
    obj.sum().backward()
    return obj.detach().numpy(), lp.grad.numpy()


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
                    f"central differences (40 digits, h=1e-15) of the case-value objective == autograd ({n} categoricals)",
                    {"max_abs_error": worst, "instances": n, "dps": 40, "seed": ctx.seed})


_SEED_GRAD_QUOTE = (r"$$\nabla_{\theta'} L_t^{\text{CLIP}}(\theta')|_{\theta} = \begin{cases} 0 & \text{if } "
                    r"w(s, a) \leq 1 - \epsilon \text{ and } A^{\pi_{\theta}} < 0 \\ 0 & \text{if } w(s, a) \geq "
                    r"1 + \epsilon \text{ and } A^{\pi_{\theta}} > 0 \\ \nabla_{\theta'} J(\theta')|_{\theta} & "
                    r"\text{otherwise} \end{cases}$$")


@check("exact")
def seed_grad_otherwise_vs_grad_j(ctx: Context) -> Evidence:
    """On tabular MDPs with theta' != theta and every ratio inside the band (so every sample is
    in the 'otherwise' case), the expected per-sample gradient (autograd of the reference) is
    compared with grad J at theta' and at theta (both readings of 'grad J(theta')|_theta')."""
    torch, TL, _ = torch_mirrors()
    rng = ctx.rng()
    gaps_new, gaps_old = [], []
    for _ in range(5):
        mdp = M.random_mdp(rng, 4, 3, 0.9)
        z_old = rng.normal(size=(4, 3))
        z_new = z_old + 0.04 * rng.normal(size=(4, 3))
        pi_old = M.softmax(z_old)
        w = M.visitation(mdp, pi_old)[:, None] * pi_old
        zt = torch.tensor(z_new, dtype=torch.float64, requires_grad=True)
        obj = TL.ppo_clip_objective(torch.log_softmax(zt, -1), torch.tensor(M.log_softmax(z_old)),
                                    torch.tensor(M.advantages(mdp, pi_old)), 0.2)
        (torch.tensor(w) * obj).sum().backward()
        g = zt.grad.numpy()
        gaps_new.append(_rel(g, G.policy_gradient(mdp, z_new)))
        gaps_old.append(_rel(g, G.policy_gradient(mdp, z_old)))
    passed = min(min(gaps_new), min(gaps_old)) < 1e-9
    return Evidence("exact", passed,
                    "expected 'otherwise'-case gradient vs grad J(theta') and grad J(theta): relative gaps "
                    f"{min(gaps_new):.3g}..{max(gaps_new):.3g} and {min(gaps_old):.3g}..{max(gaps_old):.3g}",
                    {"rel_gap_vs_gradJ_new": gaps_new, "rel_gap_vs_gradJ_old": gaps_old, "instances": 5,
                     "perturbation_scale": 0.04, "clip_eps": 0.2},
                    counterexample=None if passed else {
                        "what": "E[grad L_CLIP] = grad of TRPO's surrogate L_old at theta' (r A grad log pi_theta' "
                                "per sample), which equals grad J only at theta' = theta",
                        "rel_gap_vs_gradJ_new": gaps_new[0], "rel_gap_vs_gradJ_old": gaps_old[0]})


@check("exact")
def seed_grad_per_sample_factor(ctx: Context) -> Evidence:
    """Per sample, inside the band the gradient w.r.t. log pi is r A, not the policy-gradient
    sample A: the exact factor is r (autograd of the torch mirror). And at w == 1+eps exactly
    (A > 0) autograd returns A r, not the slides' 0 (ties: '>=' is not what torch computes)."""
    torch, TL, _ = torch_mirrors()
    r = np.array([0.85, 0.95, 1.0, 1.1, 1.19])
    adv = np.array([1.0, -2.0, 0.5, 1.5, -1.0])
    _, grad = _autograd_ppo(torch, TL, np.log(r), adv, np.zeros(5), 0.2)
    factor = grad / adv
    x = _tie_log_ratio(torch, 1.25, torch.float64)
    _, gtie = _autograd_ppo(torch, TL, np.array([x]), np.array([1.0]), np.zeros(1), 0.25)
    passed = bool(np.allclose(factor, 1.0, rtol=0, atol=1e-15) and gtie[0] == 0.0)
    return Evidence("exact", passed, "per-sample gradient / (A grad log pi) == r (not 1) inside the band; "
                    f"at the tie w = 1+eps autograd gives {gtie[0]} (slides: 0)",
                    {"r": r, "gradient_over_A": factor, "tie_gradient": float(gtie[0])},
                    counterexample=None if passed else {"r": r.tolist(), "exact_factor": factor.tolist(),
                                                        "tie_gradient": float(gtie[0])})


claim(
    id="SEED-001-PPO-CLIP-GRAD",
    title="Slides: PPO-clip gradient is 0 if w <= 1-eps (A<0) or w >= 1+eps (A>0), else grad J(theta')|_theta",
    statement=r"\nabla_{\theta'}L^{CLIP}_t(\theta')|_\theta=0\ \text{if } w\le 1-\epsilon, A<0;\ 0\ \text{if } "
              r"w\ge 1+\epsilon, A>0;\ \nabla_{\theta'}J(\theta')|_\theta\ \text{otherwise}",
    source=Source("Lecture slides (seed 001), 'ARE THERE EVEN CHEAPER ROBUST APPROXIMATIONS?'",
                  quote=_SEED_GRAD_QUOTE, seed_file=SEED_FILE),
    family=FAMILY,
    expected="refuted",
    kind="seed-statement",
    checks=(seed_grad_otherwise_vs_grad_j, seed_grad_per_sample_factor),
    conventions=("w = pi_theta'(a|s) / pi_theta(a|s); gradient w.r.t. the logits of a tabular softmax policy",),
    notes="The value cases on the previous line of the slides are right (PPO-CLIP-OBJECTIVE). The 'otherwise' "
          "gradient is the per-sample surrogate gradient r A grad log pi_theta', whose expectation is grad L_old(theta'), "
          "equal to grad J only at theta' = theta; the zero cases need strict inequalities or a stated tie convention.",
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
    kind="correction",
    corrects="SEED-001-PPO-CLIP-GRAD",
    checks=(grad_cases_property, grad_cases_ties_and_expectation, grad_cases_central_differences),
    conventions=("gradient w.r.t. log pi (multiply by grad log pi for the parameter gradient)",
                 "ties (r exactly on an edge): the unclipped gradient A r, in the torch mirror and in the textbook "
                 "torch.minimum/clamp formula (torch 2.x); one-sided derivatives are A r and 0",
                 "dual-clip tie r == c: mirror A r; textbook torch.maximum gives A r / 2"),
    uses=("PPO-CLIP-OBJECTIVE",),
)
