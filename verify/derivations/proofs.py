"""The standard proofs, every line checked: SURR-GRAD-EQ, the KKT natural-gradient step, Pinsker,
the state-drift bound, TRPO Theorem 1 and the policy-gradient theorem (the repair of the slides'
derivation).

Conventions as in the claims: rho unnormalized discounted visitation, A = Q - V of the old policy,
TV = 1/2 L1, KL in nats, tabular softmax logits.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from reference_impls import divergences as D
from reference_impls import gradients as G
from reference_impls import mdp as M
from reference_impls import trust_region as T
from verify import fixtures
from verify import strategies as vst
from verify.claims.policy_gradient.pg_theorem import pgt_symbolic
from verify.claims.policy_gradient.surrogate_gradient import surr_grad_eq_finite_differences
from verify.claims.trust_region._common import (
    exact_gap,
    kl_rows_near,
    mixture_cases,
    mp_bound_ratios,
    mp_escape_chain,
    tv_rows,
)
from verify.claims.trust_region.drift import drift_fixture
from verify.claims.trust_region.natgrad import _KKT_INSTANCES, _random_spd, kkt_gaussian
from verify.claims.trust_region.pinsker import pinsker_fixture
from verify.claims.trust_region.surrogate import surr_error_symbolic
from verify.derivation import (
    Comparison,
    Step,
    by_claim,
    by_definition,
    by_identity,
    by_inequality,
    by_premise,
    derivation,
    step_check,
)
from verify.derivations._common import (
    on_instances,
    random_instances,
    scale_of,
    searched,
    sympy_logit_pair,
    sympy_pair,
    weights,
)
from verify.highprec import MpMDP
from verify.registry import Context, Source

DPS = 40

# =========================================================================== DERIV-SURR-GRAD-EQ


@step_check()
def sg_definition(ctx: Context) -> Comparison:
    """Reference surrogate vs the formula J(old) + rho_old . sum_a pi_new A_old (random MDPs)."""
    lhs, rhs, sc = [], [], []
    for mdp, z0, z in random_instances(ctx, 6):
        old, new = M.softmax(z0), M.softmax(z)
        lhs.append(G.surrogate(mdp, z, z0))
        gain = float(M.visitation(mdp, old) @ np.sum(new * M.advantages(mdp, old), 1))
        rhs.append(M.expected_return(mdp, old) + gain)
        sc.append(scale_of(mdp))
    return Comparison("exact", lhs, rhs, "reference surrogate = J(old) + sum_s rho_old sum_a pi A_old (6 random MDPs)",
                      tol=1e-12, scale=sc)


@step_check()
def sg_pdl_symbolic(ctx: Context) -> Comparison:
    P = sympy_pair()
    eo, en, new = P["eo"], P["en"], P["new"]
    rhs = sum(en["rho"][s] * sum(new[s][a] * eo["A"][s][a] for a in range(2)) for s in range(2))
    return Comparison("symbolic", en["J"] - eo["J"], rhs, "PDL on the 2-state rational MDP, symbolic policies")


def _pairs() -> st.SearchStrategy[tuple[M.FiniteMDP, np.ndarray, np.ndarray]]:
    @st.composite
    def strat(draw: st.DrawFn) -> tuple[M.FiniteMDP, np.ndarray, np.ndarray]:
        m = draw(vst.finite_mdps())
        return m, draw(vst.policies(m.n_states, m.n_actions)), draw(vst.policies(m.n_states, m.n_actions))

    return strat()


@step_check()
def sg_pdl_property(ctx: Context) -> Comparison:
    def fn(x: Any) -> tuple[list[float], list[float]]:
        mdp, old, new = x
        return ([M.expected_return(mdp, new) - M.expected_return(mdp, old)],
                [float(M.visitation(mdp, new) @ np.sum(new * M.advantages(mdp, old), 1))])

    return searched(ctx, _pairs(), fn, "PDL on hypothesis MDPs and policy pairs", tol=1e-10,
                    scale=lambda x: scale_of(x[0]))


@step_check()
def sg_gap_exact(ctx: Context) -> Comparison:
    lhs, rhs, sc = [], [], []
    for mdp, z0, z in random_instances(ctx, 6):
        old, new = M.softmax(z0), M.softmax(z)
        lhs.append(M.expected_return(mdp, new) - G.surrogate(mdp, z, z0))
        abar = np.sum(new * M.advantages(mdp, old), 1)
        rhs.append(float((M.visitation(mdp, new) - M.visitation(mdp, old)) @ abar))
        sc.append(scale_of(mdp))
    return Comparison("exact", lhs, rhs, "J(new) - L_old(new) = (rho_new - rho_old) . Abar (6 random MDPs)", tol=1e-12,
                      scale=sc)


@step_check()
def sg_gap_symbolic(ctx: Context) -> Comparison:
    P = sympy_pair()
    eo, en, new = P["eo"], P["en"], P["new"]
    abar = [sum(new[s][a] * eo["A"][s][a] for a in range(2)) for s in range(2)]
    L = eo["J"] + sum(eo["rho"][s] * abar[s] for s in range(2))
    rhs = sum((en["rho"][s] - eo["rho"][s]) * abar[s] for s in range(2))
    return Comparison("symbolic", en["J"] - L, rhs, "J - L = sum_s (rho_new - rho_old) Abar, symbolic policies")


def _logit_terms() -> dict[str, Any]:
    P = sympy_logit_pair()
    u, en, eo, new = P["u"], P["en"], P["eo"], P["new"]
    abar = [sum(new[s][a] * eo["A"][s][a] for a in range(2)) for s in range(2)]
    L = eo["J"] + sum(eo["rho"][s] * abar[s] for s in range(2))
    return {"P": P, "abar": abar, "L": L, "u": u, "en": en, "eo": eo}


@step_check()
def sg_product_rule(ctx: Context) -> list[Comparison]:
    """d/dx_s (J - L) = sum_s' d rho_new(s')/dx_s Abar(s') + sum_s' (rho_new - rho_old)(s') dAbar(s')/dx_s, with
    d/dx_s = u_s d/du_s (2-action softmax in u = exp x): one comparison per logit coordinate."""
    K = _logit_terms()
    u, en, eo, abar = K["u"], K["en"], K["eo"], K["abar"]
    at_old = dict(zip(K["P"]["v"], (sp.Integer(2), sp.Rational(1, 3))))  # old logits fixed: exp(x_old) = 2, 1/3
    out = []
    for s in range(2):
        lhs = u[s] * sp.diff(en["J"] - K["L"], u[s])
        rhs = sum(u[s] * sp.diff(en["rho"][t], u[s]) * abar[t] + (en["rho"][t] - eo["rho"][t]) * u[s]
                  * sp.diff(abar[t], u[s]) for t in range(2))
        out.append(Comparison("symbolic", lhs.subs(at_old), rhs.subs(at_old),
                              f"product rule for d/dx_{s} (J - L), symbolic new logits (old logits log 2, -log 3)"))
    return out


@step_check()
def sg_at_old_exact(ctx: Context) -> Comparison:
    """sum_a pi_old A_old = 0 per state and rho_new - rho_old = 0 at theta = theta_old (so both terms vanish)."""
    lhs: list[float] = []
    sc: list[float] = []
    for mdp, z0, _ in random_instances(ctx, 6):
        old = M.softmax(z0)
        lhs.extend(np.sum(old * M.advantages(mdp, old), 1).tolist())
        lhs.extend((M.visitation(mdp, M.softmax(z0)) - M.visitation(mdp, old)).tolist())
        sc.extend([scale_of(mdp)] * (2 * mdp.n_states))
    return Comparison("exact", lhs, [0.0] * len(lhs), "E_{a~pi_old} A_old(s, a) = 0 and rho_new - rho_old = 0 at "
                      "theta_old (6 random MDPs, every state)", tol=1e-12, scale=sc)


@step_check()
def sg_at_old_symbolic(ctx: Context) -> list[Comparison]:
    K = _logit_terms()
    u, v = K["u"], K["P"]["v"]
    at = {u[0]: v[0], u[1]: v[1]}
    return [Comparison("symbolic", sp.cancel(sp.together(K["abar"][s].subs(at))), sp.Integer(0),
                       f"Abar(s{s}) = 0 at theta = theta_old (symbolic)") for s in range(2)]


@step_check()
def sg_conclusion_exact(ctx: Context) -> Comparison:
    lhs: list[float] = []
    rhs: list[float] = []
    sc: list[float] = []
    for mdp, z0, _ in random_instances(ctx, 6):
        lhs.extend(G.surrogate_gradient(mdp, z0, z0).ravel().tolist())
        rhs.extend(G.policy_gradient(mdp, z0).ravel().tolist())
        sc.extend([scale_of(mdp)] * z0.size)
    return Comparison("exact", lhs, rhs, "reference surrogate_gradient = policy_gradient at theta_old (6 random MDPs)",
                      tol=1e-12, scale=sc)


derivation(
    id="DERIV-SURR-GRAD-EQ",
    title="The surrogate's gradient equals the policy gradient at θ_old",
    source=Source("Schulman et al. (2015) TRPO, eqs. (1)-(4); Kakade & Langford (2002)"),
    expected="verified",
    proves=("SURR-GRAD-EQ",),
    steps=(
        Step(r"L_{\theta_0}(\theta)=J(\theta_0)+\sum_s\rho_{\theta_0}(s)\sum_a\pi_\theta(a|s)A^{\theta_0}(s,a)", "",
             by_definition("TRPO eq. (3)"), (sg_definition,)),
        Step(r"J(\theta)-J(\theta_0)=\sum_s\rho_\theta(s)\sum_a\pi_\theta(a|s)A^{\theta_0}(s,a)", "=",
             by_claim("PDL"), (sg_pdl_symbolic, sg_pdl_property)),
        Step(r"J(\theta)-L_{\theta_0}(\theta)=\sum_s(\rho_\theta-\rho_{\theta_0})(s)\,\bar A_\theta(s),\ "
             r"\bar A_\theta(s)=\sum_a\pi_\theta(a|s)A^{\theta_0}(s,a)", "=",
             by_identity("algebra", "subtract the first line from the second"), (sg_gap_exact, sg_gap_symbolic)),
        Step(r"\nabla_\theta(J-L_{\theta_0})(\theta)=\sum_s\nabla_\theta\rho_\theta(s)\,\bar A_\theta(s)+"
             r"\sum_s(\rho_\theta-\rho_{\theta_0})(s)\,\nabla_\theta\bar A_\theta(s)", "=",
             by_identity("calculus", "product rule"), (sg_product_rule,)),
        Step(r"\theta=\theta_0:\ \bar A_{\theta_0}(s)=\mathbb E_{a\sim\pi_{\theta_0}}A^{\theta_0}(s,a)=0,\ "
             r"\rho_\theta-\rho_{\theta_0}=0\ \Rightarrow\ \nabla_\theta(J-L_{\theta_0})\big|_{\theta_0}=0", "=",
             by_identity("algebra", "E_{a~pi} A^pi = 0"), (sg_at_old_exact, sg_at_old_symbolic)),
        Step(r"\nabla_\theta L_{\theta_0}(\theta)\big|_{\theta_0}=\nabla_\theta J(\theta)\big|_{\theta_0}", "=",
             by_identity("algebra", "rearrange the previous line"),
             (sg_conclusion_exact, surr_grad_eq_finite_differences)),
    ),
    notes="Only the gradients agree: the second derivatives of L and J differ (SURR-GRAD-EQ's high-precision check).",
)

# =========================================================================== DERIV-KKT-NATGRAD


def _kkt(idx: int) -> dict[str, Any]:
    Fl, gl = _KKT_INSTANCES[idx]
    F, g = sp.Matrix(Fl), sp.Matrix(gl)
    n = F.shape[0]
    s = sp.Matrix(sp.symbols(f"s0:{n}"))
    lam, dl = sp.symbols("lambda delta", positive=True)
    y = F.LUsolve(g)
    q = (g.T * y)[0]
    return {"F": F, "g": g, "s": s, "lam": lam, "delta": dl, "y": y, "q": q, "w": sp.Matrix(weights(n))}


def _dot(w: Any, v: Any) -> Any:
    return sum(w[i] * v[i] for i in range(len(w)))


@step_check()
def kkt_lagrangian(ctx: Context) -> list[Comparison]:
    out = []
    for i in range(len(_KKT_INSTANCES)):
        K = _kkt(i)
        F, g, s, lam, dl = K["F"], K["g"], K["s"], K["lam"], K["delta"]
        n = F.shape[0]
        lag = (g.T * s)[0] - lam * ((s.T * F * s)[0] / 2 - dl)
        explicit = sum(g[a] * s[a] for a in range(n)) - lam * (sum(F[a, b] * s[a] * s[b] for a in range(n)
                                                                   for b in range(n)) / 2 - dl)
        out.append(Comparison("symbolic", lag, explicit, f"Lagrangian in matrix and index form (instance {i})"))
        eig = float(np.min(np.linalg.eigvalsh(np.array(F.tolist(), dtype=float))))
        out.append(Comparison("exact", [0.0], [eig], f"F positive definite (instance {i}): min eigenvalue {eig:.3g}",
                              relation="<"))
    return out


@step_check()
def kkt_stationarity(ctx: Context) -> list[Comparison]:
    out = []
    for i in range(len(_KKT_INSTANCES)):
        K = _kkt(i)
        F, g, s, lam, dl = K["F"], K["g"], K["s"], K["lam"], K["delta"]
        lag = (g.T * s)[0] - lam * ((s.T * F * s)[0] / 2 - dl)
        sol = sp.solve([sp.diff(lag, si) for si in s], list(s), dict=True)[0]
        solved = sp.Matrix([sol[si] for si in s])
        out.append(Comparison("symbolic", _dot(K["w"], solved), _dot(K["w"], K["y"] / lam),
                              f"grad_s L = 0 solved by sympy equals F^-1 g / lambda (instance {i})"))
    return out


@step_check()
def kkt_quadratic(ctx: Context) -> list[Comparison]:
    out = []
    for i in range(len(_KKT_INSTANCES)):
        K = _kkt(i)
        s_l = K["y"] / K["lam"]
        out.append(Comparison("symbolic", (s_l.T * K["F"] * s_l)[0] / 2, K["q"] / (2 * K["lam"] ** 2),
                              f"1/2 s(lambda)^T F s(lambda) = g^T F^-1 g / (2 lambda^2) (instance {i})"))
    return out


@step_check()
def kkt_lambda(ctx: Context) -> list[Comparison]:
    out = []
    for i in range(len(_KKT_INSTANCES)):
        K = _kkt(i)
        lam_star = sp.sqrt(K["q"] / (2 * K["delta"]))
        out.append(Comparison("symbolic", K["q"] / (2 * lam_star**2), K["delta"],
                              f"the active constraint holds at lambda* = sqrt(g^T F^-1 g / (2 delta)) (instance {i})"))
    return out


@step_check()
def kkt_step_symbolic(ctx: Context) -> list[Comparison]:
    out = []
    for i in range(len(_KKT_INSTANCES)):
        K = _kkt(i)
        lam_star = sp.sqrt(K["q"] / (2 * K["delta"]))
        s_star = sp.sqrt(2 * K["delta"] / K["q"]) * K["y"]
        out.append(Comparison("symbolic", _dot(K["w"], K["y"] / lam_star), _dot(K["w"], s_star),
                              f"F^-1 g / lambda* = sqrt(2 delta / g^T F^-1 g) F^-1 g (instance {i})"))
    return out


def _spd_cases(ctx: Context, n_cases: int = 8) -> list[tuple[np.ndarray, np.ndarray, float]]:
    rng = ctx.rng("spd")
    out: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(n_cases):
        F = _random_spd(rng, int(rng.integers(1, 5)))
        out.append((F, np.asarray(rng.normal(size=F.shape[0])), float(rng.choice([1e-3, 1e-2, 0.5]))))
    return out


@step_check()
def kkt_step_reference(ctx: Context) -> Comparison:
    lhs: list[float] = []
    rhs: list[float] = []
    for F, g, delta in _spd_cases(ctx):
        y = np.linalg.solve(F, g)
        lhs.extend(np.asarray(T.natural_gradient_step(g, F, delta)).ravel().tolist())
        rhs.extend((math.sqrt(2 * delta / float(g @ y)) * y).tolist())
    return Comparison("exact", lhs, rhs, "reference natural_gradient_step = sqrt(2 delta / g^T F^-1 g) F^-1 g "
                      "(8 random SPD instances)", tol=1e-9)


@step_check()
def kkt_optimality(ctx: Context) -> Comparison:
    """Feasible competitors u (on the boundary 1/2 u^T F u = delta, random and near s*): g^T u <= g^T s*."""

    @st.composite
    def strat(draw: st.DrawFn) -> tuple[int, float, float]:
        return draw(st.integers(0, 2**31 - 1)), draw(st.sampled_from((1e-3, 1e-2, 1.0))), draw(
            st.floats(1e-4, 2.0))

    def fn(x: tuple[int, float, float]) -> tuple[list[float], list[float]]:
        seed, delta, spread = x
        rng = np.random.default_rng(seed)
        F = _random_spd(rng, int(rng.integers(1, 5)))
        g = np.asarray(rng.normal(size=F.shape[0]))
        s = np.asarray(T.natural_gradient_step(g, F, delta))
        u = s + spread * np.linalg.norm(s) * rng.normal(size=g.size)  # near s* for small spread
        quad = 0.5 * float(u @ F @ u)
        u = u * math.sqrt(delta / quad)
        return [float(g @ u)], [float(g @ s)]

    return searched(ctx, strat(), fn, "g^T u <= g^T s* for feasible u on the KL boundary (hypothesis-searched, "
                    "targeting the ratio toward 1)", tol=1e-9)


@step_check()
def kkt_cauchy_schwarz(ctx: Context) -> list[Comparison]:
    """Lagrange identity: (g^T F^-1 g)(u^T F u) - (g^T u)^2 is a sum of squares (symbolic u)."""
    out = []
    for i in range(len(_KKT_INSTANCES)):
        K = _kkt(i)
        F, g, q = K["F"], K["g"], K["q"]
        u = sp.Matrix(sp.symbols(f"u0:{F.shape[0]}"))
        L = F.cholesky(hermitian=False)
        w = L.LUsolve(g)
        v = L.T * u
        sos = sum((w[a] * v[b] - w[b] * v[a]) ** 2 for a in range(len(w)) for b in range(a + 1, len(w)))
        out.append(Comparison("symbolic", sp.expand(q * (u.T * F * u)[0] - (g.T * u)[0] ** 2), sp.expand(sos),
                              f"Cauchy-Schwarz gap in the F-inner product = sum of squares (instance {i})",
                              relation="="))
    return out


derivation(
    id="DERIV-KKT-NATGRAD",
    title="The natural-gradient step from the KKT conditions",
    source=Source("TRPO (Schulman et al. 2015) App. C; Nocedal & Wright, Numerical Optimization, Thm 12.1"),
    expected="verified",
    proves=("KKT-NATGRAD-STEP",),
    steps=(
        Step(r"\max_s g^\top s\ \text{s.t.}\ \tfrac12 s^\top Fs\le\delta,\ F\succ0:\quad"
             r"\mathcal L(s,\lambda)=g^\top s-\lambda\big(\tfrac12 s^\top Fs-\delta\big),\ \lambda\ge0", "",
             by_definition("Lagrangian of the quadratic trust-region model"), (kkt_lagrangian,)),
        Step(r"\nabla_s\mathcal L=g-\lambda Fs=0\ \Rightarrow\ s=\lambda^{-1}F^{-1}g", "⇒",
             by_identity("calculus", "stationarity"), (kkt_stationarity,)),
        Step(r"\tfrac12 s^\top Fs=\frac{g^\top F^{-1}g}{2\lambda^2}", "=", by_identity("algebra"), (kkt_quadratic,)),
        Step(r"g\ne0\Rightarrow\lambda>0\Rightarrow\tfrac12 s^\top Fs=\delta\ \Rightarrow\ "
             r"\lambda^*=\sqrt{\frac{g^\top F^{-1}g}{2\delta}}", "⇒",
             by_identity("KKT conditions", "complementary slackness, active constraint"),
             (kkt_lambda,)),
        Step(r"s^*=\frac{1}{\lambda^*}F^{-1}g=\sqrt{\frac{2\delta}{g^\top F^{-1}g}}\,F^{-1}g", "=",
             by_identity("algebra"), (kkt_step_symbolic, kkt_step_reference, kkt_gaussian)),
        Step(r"\tfrac12u^\top Fu\le\delta\ \Rightarrow\ g^\top u\le\sqrt{g^\top F^{-1}g}\sqrt{u^\top Fu}\le"
             r"\sqrt{2\delta\,g^\top F^{-1}g}=g^\top s^*", "≤",
             by_inequality("Cauchy–Schwarz", "in the F-inner product"), (kkt_optimality, kkt_cauchy_schwarz)),
    ),
    notes="The tabular-softmax Fisher is singular: there F^-1 is the pseudo-inverse on range(F), where g lies "
          "(KKT-NATGRAD-STEP's property check covers that case).",
)

# =========================================================================== DERIV-PINSKER


def _dist_pairs() -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    return st.one_of(
        st.integers(2, 5).flatmap(lambda n: st.tuples(vst.distributions(st.just(n), zeros=True),
                                                      vst.distributions(st.just(n)))),
        vst.near_identical_distributions(),
    )


def _mp(v: np.ndarray) -> list[Any]:
    x = [mp.mpf(float(a)) for a in v]
    t = mp.fsum(x)
    return [a / t for a in x]


def _kl_mp(p: list[Any], q: list[Any]) -> Any:
    return mp.fsum(a * mp.log(a / b) for a, b in zip(p, q) if a > 0)


def _bern_kl(a: Any, b: Any) -> Any:
    return _kl_mp([a, 1 - a], [b, 1 - b])


_TWO_POINT = ((np.array([0.6, 0.4]), np.array([0.5, 0.5])), (np.array([0.51, 0.49]), np.array([0.5, 0.5])))


@step_check()
def pk_event(ctx: Context) -> Comparison:
    def fn(x: tuple[np.ndarray, np.ndarray]) -> tuple[list[float], list[float]]:
        p, q = x
        return [float(D.tv(p, q))], [float(np.sum((p - q)[p > q]))]

    return searched(ctx, _dist_pairs(), fn, "reference tv(p, q) = P(E) - Q(E), E = {P > Q} (hypothesis pairs)",
                    kind="exact", tol=1e-14)


@step_check()
def pk_data_processing(ctx: Context) -> Comparison:
    def fn(x: tuple[np.ndarray, np.ndarray]) -> tuple[list[Any], list[Any]]:
        with mp.workdps(DPS):
            p, q = _mp(x[0]), _mp(x[1])
            a = mp.fsum(u for u, v in zip(p, q) if u > v)
            b = mp.fsum(v for u, v in zip(p, q) if u > v)
            return [_bern_kl(a, b)], [_kl_mp(p, q)]

    return searched(ctx, _dist_pairs(), fn, "KL(Ber(P(E)) || Ber(Q(E))) <= KL(P || Q), mpmath at 40 digits "
                    "(hypothesis pairs; two-point pairs attain equality)", kind="high-precision", tol=1e-30,
                    examples=_TWO_POINT)


@step_check()
def pk_one_dim_property(ctx: Context) -> Comparison:
    @st.composite
    def strat(draw: st.DrawFn) -> tuple[float, float]:
        b = draw(st.floats(1e-3, 1 - 1e-3))
        near = draw(st.booleans())
        a = b + draw(st.floats(-1e-2, 1e-2)) if near else draw(st.floats(0.0, 1.0))
        return min(max(a, 0.0), 1.0), b

    def fn(x: tuple[float, float]) -> tuple[list[Any], list[Any]]:
        with mp.workdps(DPS):
            a, b = mp.mpf(x[0]), mp.mpf(x[1])
            return [2 * (a - b) ** 2], [_bern_kl(a, b)]

    return searched(ctx, strat(), fn, "2 (a - b)^2 <= KL(Ber(a) || Ber(b)), mpmath (hypothesis (a, b); the ratio -> 1 "
                    "near a = b = 1/2)", kind="high-precision", tol=1e-30, examples=((0.51, 0.5), (0.501, 0.5)))


@step_check()
def pk_one_dim_symbolic(ctx: Context) -> Comparison:
    a, b = sp.symbols("a b", positive=True)
    g = a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b)) - 2 * (a - b) ** 2
    return Comparison("symbolic", sp.diff(g, b), (b - a) * (1 / (b * (1 - b)) - 4),
                      "d/db [KL(Ber(a)||Ber(b)) - 2(a-b)^2] = (b - a)(1/(b(1-b)) - 4): sign of b - a, zero at b = a",
                      relation="=")


@step_check()
def pk_combined(ctx: Context) -> Comparison:
    def fn(x: tuple[np.ndarray, np.ndarray]) -> tuple[list[Any], list[Any]]:
        gaps = np.abs(x[0] - x[1])[np.abs(x[0] - x[1]) > 0]
        dps = DPS + (4 * math.ceil(-math.log10(float(gaps.min()))) if gaps.size else 0)
        with mp.workdps(dps):
            p, q = _mp(x[0]), _mp(x[1])
            tv = mp.fsum(abs(u - v) for u, v in zip(p, q)) / 2
            return [tv], [mp.sqrt(_kl_mp(p, q) / 2)]

    return searched(ctx, _dist_pairs(), fn, "TV <= sqrt(KL/2), mpmath (hypothesis pairs)", kind="high-precision",
                    tol=1e-30, examples=_TWO_POINT)


derivation(
    id="DERIV-PINSKER",
    title="Pinsker's inequality: reduction to two points, then the one-dimensional inequality",
    source=Source("Pinsker; Csiszár & Körner; Tsybakov (2009), Lemma 2.5"),
    expected="verified",
    proves=("PINSKER",),
    steps=(
        Step(r"D_{TV}(P,Q)=\tfrac12\|P-Q\|_1=P(E)-Q(E),\ E=\{x:P(x)>Q(x)\}", "", by_definition("TV = 1/2 L1"),
             (pk_event,)),
        Step(r"\mathrm{kl}(P(E)\,\|\,Q(E))\le D_{KL}(P\|Q),\ "
             r"\mathrm{kl}(a\|b)=a\log\tfrac ab+(1-a)\log\tfrac{1-a}{1-b}",
             "≤", by_inequality("data processing", "the map x -> 1{x in E}"), (pk_data_processing,)),
        Step(r"2(a-b)^2\le\mathrm{kl}(a\|b)\quad(a,b\in[0,1])", "≤",
             by_inequality("monotonicity",
                           "g(b) = kl(a||b) - 2(a-b)^2 vanishes at b = a and g'(b) has the sign of b-a"),
             (pk_one_dim_symbolic, pk_one_dim_property)),
        Step(r"D_{TV}(P,Q)=P(E)-Q(E)\le\sqrt{\mathrm{kl}(P(E)\|Q(E))/2}\le\sqrt{D_{KL}(P\|Q)/2}", "≤",
             by_inequality("monotonicity", "combine the lines; sqrt is increasing"), (pk_combined, pinsker_fixture)),
    ),
)

# =========================================================================== DERIV-STATE-DRIFT

_H = 31


def _drift_strategy() -> st.SearchStrategy[tuple[Any, ...]]:
    return mixture_cases(alphas=st.one_of(st.just(1.0), st.floats(1e-4, 1.0)))


def _alpha_of(x: tuple[Any, ...]) -> tuple[np.ndarray, float]:
    _mdp, old, new, other, a, _diff = x
    tv = tv_rows(new, old) if a == 1.0 else a * tv_rows(other, old)
    return tv, float(np.max(tv))


def _no_disagreement(mdp: M.FiniteMDP, old: np.ndarray, new: np.ndarray, horizon: int) -> np.ndarray:
    """q_t(s) = P(the maximally coupled chains agreed on every action before t and s_t = s)."""
    agree = np.minimum(old, new)
    q = np.zeros((horizon, mdp.n_states))
    q[0] = mdp.initial
    for t in range(1, horizon):
        q[t] = np.einsum("s,sa,sat->t", q[t - 1], agree, mdp.transitions)
    return q


def _coupling(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """A maximal coupling of p and q: min(p, q) on the diagonal, the excesses paired off-diagonal."""
    m = np.minimum(p, q)
    ex_p, ex_q = p - m, q - m
    tot = float(np.sum(ex_p))
    C = np.diag(m)
    if tot > 0:
        C = C + np.outer(ex_p, ex_q) / tot
    return C


@step_check()
def dr_premise(ctx: Context) -> Comparison:
    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        tv, alpha = _alpha_of(x)
        return tv.tolist(), [alpha] * len(tv)

    c = searched(ctx, _drift_strategy(), fn, "every instance satisfies max_s TV(pi'(.|s), pi(.|s)) <= alpha",
                 kind="exact", tol=1e-15)
    c.relation = "≤"
    return c


@step_check()
def dr_coupling(ctx: Context) -> list[Comparison]:
    marg: list[float] = []
    marg_ref: list[float] = []

    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        mdp, old, new = x[0], x[1], x[2]
        _, alpha = _alpha_of(x)
        out_l = []
        for s in range(mdp.n_states):
            C = _coupling(new[s], old[s])
            marg.extend(C.sum(1).tolist() + C.sum(0).tolist())
            marg_ref.extend(new[s].tolist() + old[s].tolist())
            out_l.append(float(1 - np.trace(C)))
        return out_l, [alpha] * len(out_l)

    c = searched(ctx, _drift_strategy(), fn, "maximal coupling at each state: P(a != a') = 1 - sum_a min(pi', pi) "
                 "<= alpha (hypothesis MDPs)", kind="exact", tol=1e-14)
    return [c, Comparison("exact", marg, marg_ref, "the coupling has marginals pi'(.|s) and pi(.|s)", tol=1e-14,
                          relation="=")]


def _drift_fn(which: str) -> Any:
    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        mdp, old, new = x[0], x[1], x[2]
        _, alpha = _alpha_of(x)
        q = _no_disagreement(mdp, old, new, _H)
        p_dis = 1 - q.sum(1)
        bound = np.array([1 - (1 - alpha) ** t for t in range(_H)])
        if which == "survival":
            return p_dis.tolist(), bound.tolist()
        l1 = np.sum(np.abs(M.state_marginals(mdp, new, _H) - M.state_marginals(mdp, old, _H)), 1)
        if which == "coupling":
            return l1.tolist(), (2 * p_dis).tolist()
        return l1.tolist(), (2 * bound).tolist()

    return fn


@step_check()
def dr_survival(ctx: Context) -> Comparison:
    return searched(ctx, _drift_strategy(), _drift_fn("survival"), "P(disagreement before t) <= 1 - (1-alpha)^t, "
                    "t < 31, exact recursion on hypothesis MDPs", kind="exact", tol=1e-12)


@step_check()
def dr_coupling_inequality(ctx: Context) -> Comparison:
    return searched(ctx, _drift_strategy(), _drift_fn("coupling"), "||p_t' - p_t||_1 <= 2 P(disagreement before t), "
                    "t < 31, reference state_marginals (hypothesis MDPs)", kind="exact", tol=1e-12)


@step_check()
def dr_combined(ctx: Context) -> Comparison:
    return searched(ctx, _drift_strategy(), _drift_fn("combined"), "||p_t' - p_t||_1 <= 2(1 - (1-alpha)^t), t < 31 "
                    "(hypothesis MDPs)", kind="property", tol=1e-12)


@step_check()
def dr_escape_equality(ctx: Context) -> Comparison:
    """Escape chain in mpmath: the coupling bound is attained, ||p_t' - p_t||_1 = 2(1 - (1-alpha)^t)."""
    lhs, rhs = [], []
    with mp.workdps(DPS):
        for gamma, alpha in ((mp.mpf(9) / 10, mp.mpf(1) / 10), (mp.mpf(1) / 2, mp.mpf(1) / 2)):
            mm, old, new, _ = mp_escape_chain(gamma, alpha)
            p_o, p_n = [mp.mpf(1), mp.mpf(0)], [mp.mpf(1), mp.mpf(0)]
            for t in range(20):
                lhs.append(abs(p_n[0] - p_o[0]) + abs(p_n[1] - p_o[1]))
                rhs.append(2 * (1 - (1 - alpha) ** t))
                p_o = [mp.fsum(p_o[s] * old[s][a] * mm.P[s][a][u] for s in range(2) for a in range(2))
                       for u in range(2)]
                p_n = [mp.fsum(p_n[s] * new[s][a] * mm.P[s][a][u] for s in range(2) for a in range(2))
                       for u in range(2)]
    return Comparison("high-precision", lhs, rhs, "escape chain (mpmath, 40 digits): ||p_t' - p_t||_1 = "
                      "2(1-(1-alpha)^t) "
                      "with equality, t < 20", tol=1e-30)


@step_check()
def dr_bernoulli_exact(ctx: Context) -> Comparison:
    lhs, rhs = [], []
    for k in (1, 2, 5, 10, 19, 20):
        a = Fraction(k, 20)
        for t in range(0, 31):
            lhs.append(2 * (1 - (1 - a) ** t))
            rhs.append(2 * a * t)
    return Comparison("exact", lhs, rhs, "2(1 - (1-alpha)^t) <= 2 alpha t in exact rationals, alpha in {1/20..1}, "
                      "t <= 30 (equality at t = 0, 1)", tol=0.0)


@step_check()
def dr_bernoulli_symbolic(ctx: Context) -> Comparison:
    b, t = sp.symbols("b t", positive=True)  # b = 1 - alpha in (0, 1]
    return Comparison("symbolic", -sp.diff((1 - b) * t - 1 + b**t, b), t * (1 - b ** (t - 1)),
                      "d/dalpha [alpha t - 1 + (1-alpha)^t] = t (1 - (1-alpha)^(t-1)) >= 0 for t >= 1 (b = 1 - alpha), "
                      "and the bracket is 0 at alpha = 0", relation="=")


derivation(
    id="DERIV-STATE-DRIFT",
    title="State-distribution drift by coupling: ‖p_t′ − p_t‖₁ ≤ 2(1 − (1−α)^t) ≤ 2αt",
    source=Source("TRPO (Schulman et al. 2015) App. A, Lemmas 2-3; Levine CS285 lecture 9"),
    expected="verified",
    proves=("STATE-DRIFT-BOUND",),
    steps=(
        Step(r"\max_s D_{TV}(\pi'(\cdot|s),\pi(\cdot|s))\le\alpha", "", by_premise("hypothesis of the bound"),
             (dr_premise,)),
        Step(r"\text{maximal coupling at each }s:\ "
             r"P(a_t\ne a_t'\mid s_t=s)=D_{TV}(\pi'(\cdot|s),\pi(\cdot|s))\le\alpha",
             "≤", by_inequality("coupling", "maximal coupling of two distributions"), (dr_coupling,)),
        Step(r"P(\exists k<t: a_k\ne a_k')=1-P(\text{no disagreement up to }t)\le1-(1-\alpha)^t", "≤",
             by_inequality("coupling", "each step disagrees with probability <= alpha given the past"),
             (dr_survival,)),
        Step(r"\|p_t'-p_t\|_1\le2\,P(\exists k<t: a_k\ne a_k')", "≤",
             by_inequality("coupling", "|P(X in B) - P(Y in B)| <= P(X != Y)"), (dr_coupling_inequality,)),
        Step(r"\|p_t'-p_t\|_1\le2\big(1-(1-\alpha)^t\big)", "≤",
             by_inequality("monotonicity", "the previous two lines"), (dr_combined, dr_escape_equality, drift_fixture)),
        Step(r"2\big(1-(1-\alpha)^t\big)\le2\alpha t", "≤", by_inequality("Bernoulli", "(1-alpha)^t >= 1 - alpha t"),
             (dr_bernoulli_exact, dr_bernoulli_symbolic)),
    ),
)

# =========================================================================== DERIV-TRPO-THM1

_T_SUM = 4000


def _abar(mdp: M.FiniteMDP, old: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """Abar(s) = sum_a pi_new A_old = sum_a (pi_new - pi_old) A_old (E_{pi_old} A_old = 0)."""
    return np.sum(diff * M.advantages(mdp, old), 1)


def _trpo_strategy() -> st.SearchStrategy[tuple[Any, ...]]:
    return mixture_cases()


@step_check()
def tr_pdl(ctx: Context) -> Comparison:
    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        mdp, old, new, _o, _a, _d = x
        return ([M.expected_return(mdp, new) - M.expected_return(mdp, old)],
                [float(M.visitation(mdp, new) @ np.sum(new * M.advantages(mdp, old), 1))])

    return searched(ctx, _trpo_strategy(), fn, "PDL on hypothesis mixtures", tol=1e-10, scale=lambda x: scale_of(x[0]))


@step_check()
def tr_surrogate(ctx: Context) -> Comparison:
    lhs, rhs, sc = [], [], []
    for mdp, z0, z in random_instances(ctx, 6, gammas=(0.5, 0.9, 0.99)):
        old, new = M.softmax(z0), M.softmax(z)
        lhs.append(G.surrogate(mdp, z, z0) - M.expected_return(mdp, old))
        rhs.append(float(M.visitation(mdp, old) @ _abar(mdp, old, new - old)))
        sc.append(scale_of(mdp))
    return Comparison("exact", lhs, rhs, "reference surrogate - J(old) = rho_old . Abar (6 random MDPs)", tol=1e-12,
                      scale=sc)


@step_check()
def tr_gap_sum(ctx: Context) -> Comparison:
    lhs, rhs, sc = [], [], []
    for mdp, z0, z in random_instances(ctx, 4, gammas=(0.5, 0.9)):
        old, new = M.softmax(z0), M.softmax(z)
        diff = new - old
        lhs.append(exact_gap(mdp, old, new, diff))
        pt_n, pt_o = M.state_marginals(mdp, new, _T_SUM), M.state_marginals(mdp, old, _T_SUM)
        disc = mdp.gamma ** np.arange(_T_SUM)
        rhs.append(float(disc @ ((pt_n - pt_o) @ _abar(mdp, old, diff))))
        sc.append(scale_of(mdp))
    return Comparison("exact", lhs, rhs, f"eta - L (exact identity) = sum_t gamma^t (p_t' - p_t) . Abar (t < {_T_SUM}, "
                      "4 random MDPs)", tol=1e-11, scale=sc)


def _trpo_eps(mdp: M.FiniteMDP, old: np.ndarray) -> float:
    return float(np.max(np.abs(M.advantages(mdp, old))))


@step_check()
def tr_abar(ctx: Context) -> Comparison:
    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        mdp, old, _new, other, a, diff = x
        alpha = float(np.max(a * tv_rows(other, old)))
        return [float(np.max(np.abs(_abar(mdp, old, diff))))], [2 * alpha * _trpo_eps(mdp, old)]

    return searched(ctx, _trpo_strategy(), fn, "max_s |Abar(s)| <= 2 alpha max|A| (hypothesis mixtures)", tol=1e-12,
                    scale=lambda x: scale_of(x[0]))


@step_check()
def tr_per_step(ctx: Context) -> Comparison:
    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        mdp, old, new, other, a, diff = x
        alpha = float(np.max(a * tv_rows(other, old)))
        H = 40
        d = (M.state_marginals(mdp, new, H) - M.state_marginals(mdp, old, H)) @ _abar(mdp, old, diff)
        b = [4 * alpha * _trpo_eps(mdp, old) * (1 - (1 - alpha) ** t) for t in range(H)]
        return np.abs(d).tolist(), b

    return searched(ctx, _trpo_strategy(), fn, "|E_{s_t~pi'} Abar - E_{s_t~pi} Abar| <= 4 alpha eps (1-(1-alpha)^t), "
                    "t < 40 (hypothesis mixtures)", tol=1e-12, scale=lambda x: scale_of(x[0]))


@step_check()
def tr_eq44_property(ctx: Context) -> Comparison:
    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        mdp, old, new, other, a, diff = x
        g = mdp.gamma
        alpha = float(np.max(a * tv_rows(other, old)))
        pen = 4 * alpha**2 * g * _trpo_eps(mdp, old) / ((1 - g) * (1 - g * (1 - alpha)))
        return [abs(exact_gap(mdp, old, new, diff))], [pen]

    return searched(ctx, _trpo_strategy(), fn, "|eta - L| <= eq. (44) penalty (hypothesis mixtures)", tol=1e-12,
                    scale=lambda x: scale_of(x[0]) * 1e-4)


@step_check()
def tr_eq44_fixtures(ctx: Context) -> Comparison:
    """mpmath: the escape chain (ratio 1/2) and the 3-state instance (ratio 0.89989, near-tight)."""
    lhs, rhs = [], []
    with mp.workdps(DPS):
        mm, old, new, _ = mp_escape_chain(mp.mpf(9) / 10, mp.mpf(1) / 1000)
        for r in (mp_bound_ratios(mm, old, new),):
            lhs.append(abs(r["gap"]))
            rhs.append(r["penalties"]["TRPO-44"])
        mdp, pi, pi_new = fixtures.trpo_eq44_instance()
        r = mp_bound_ratios(MpMDP(mdp), [[mp.mpf(float(v)) for v in row] for row in pi],
                            [[mp.mpf(float(v)) for v in row] for row in pi_new])
        lhs.append(abs(r["gap"]))
        rhs.append(r["penalties"]["TRPO-44"])
    return Comparison("high-precision", lhs, rhs, "eq. (44) on the escape chain and the 3-state near-tight instance "
                      "(mpmath, 40 digits)", tol=1e-30)


@step_check()
def tr_geometric(ctx: Context) -> Comparison:
    g, a = sp.symbols("gamma alpha", positive=True)
    return Comparison("symbolic", 1 / (1 - g) - 1 / (1 - g * (1 - a)), a * g / ((1 - g) * (1 - g * (1 - a))),
                      "sum_t gamma^t (1 - (1-alpha)^t) = alpha gamma / ((1-gamma)(1-gamma(1-alpha)))", relation="=")


@step_check()
def tr_eq8_exact(ctx: Context) -> Comparison:
    lhs, rhs = [], []
    for g in (Fraction(1, 2), Fraction(9, 10), Fraction(99, 100)):
        for a in (Fraction(1, 10**6), Fraction(1, 1000), Fraction(1, 10), Fraction(1, 2), Fraction(1)):
            lhs.append(4 * a**2 * g / ((1 - g) * (1 - g * (1 - a))))
            rhs.append(4 * g * a**2 / (1 - g) ** 2)
    return Comparison("exact", lhs, rhs, "eq. (44) penalty <= eq. (8) penalty in exact rationals (eps = 1; the ratio "
                      "-> 1 "
                      "as alpha -> 0)", tol=0.0)


@step_check()
def tr_eq8_symbolic(ctx: Context) -> Comparison:
    g, a, e = sp.symbols("gamma alpha epsilon", positive=True)
    pen44 = 4 * a**2 * g * e / ((1 - g) * (1 - g * (1 - a)))
    pen8 = 4 * e * g * a**2 / (1 - g) ** 2
    return Comparison("symbolic", pen8 - pen44, 4 * e * g**2 * a**3 / ((1 - g) ** 2 * (1 - g * (1 - a))),
                      "eq. (8) - eq. (44) = 4 eps gamma^2 alpha^3 / ((1-gamma)^2 (1-gamma(1-alpha))) >= 0",
                      relation="=")


@step_check()
def tr_eq9(ctx: Context) -> list[Comparison]:
    sq: list[float] = []
    kls: list[float] = []

    def fn(x: tuple[Any, ...]) -> tuple[list[float], list[float]]:
        mdp, old, new, other, a, diff = x
        g = mdp.gamma
        alpha = float(np.max(a * tv_rows(other, old)))
        kl_max = float(np.max(kl_rows_near(old, diff)[0]))
        sq.append(alpha**2)
        kls.append(kl_max)
        return [-exact_gap(mdp, old, new, diff)], [4 * _trpo_eps(mdp, old) * g / (1 - g) ** 2 * kl_max]

    c = searched(ctx, _trpo_strategy(), fn, "L - eta <= 4 eps gamma/(1-gamma)^2 max_s KL(old||new) (hypothesis "
                 "mixtures)", tol=1e-12, scale=lambda x: scale_of(x[0]) * 1e-4)
    return [c, Comparison("property", sq, kls, "D_TV^max^2 <= D_KL^max on the same instances (Pinsker, weakened)",
                          tol=1e-15, relation="≤")]


derivation(
    id="DERIV-TRPO-THM1",
    title="TRPO Theorem 1: PDL → coupling → eq. (44) → eq. (8) → the KL form eq. (9)",
    source=Source("Schulman et al. (2015) TRPO, Theorem 1 and App. A (eqs. 8, 9, 44)"),
    expected="verified",
    proves=("TRPO-BOUND",),
    steps=(
        Step(r"\eta(\tilde\pi)-\eta(\pi)=\sum_t\gamma^t\,\mathbb E_{s_t\sim\tilde\pi}\bar A(s_t),\ "
             r"\bar A(s)=\mathbb E_{a\sim\tilde\pi}A_\pi(s,a)", "=", by_claim("PDL"), (tr_pdl,)),
        Step(r"L_\pi(\tilde\pi)-\eta(\pi)=\sum_t\gamma^t\,\mathbb E_{s_t\sim\pi}\bar A(s_t)", "=",
             by_definition("TRPO eq. (3)"), (tr_surrogate,)),
        Step(r"\eta(\tilde\pi)-L_\pi(\tilde\pi)=\sum_t\gamma^t\big(\mathbb E_{s_t\sim\tilde\pi}-"
             r"\mathbb E_{s_t\sim\pi}\big)"
             r"\bar A(s_t)", "=", by_identity("algebra", "subtract"), (tr_gap_sum, surr_error_symbolic)),
        Step(r"|\bar A(s)|=\big|\textstyle\sum_a(\tilde\pi-\pi)(a|s)A_\pi(s,a)\big|\le2\alpha\epsilon,\ "
             r"\epsilon=\max_{s,a}|A_\pi(s,a)|", "≤", by_inequality("triangle", "E_{a~pi} A_pi = 0, Hoelder"),
             (tr_abar,)),
        Step(r"\big|\mathbb E_{s_t\sim\tilde\pi}\bar A-\mathbb E_{s_t\sim\pi}\bar A\big|\le"
             r"2\,P(\exists k<t:a_k\ne\tilde a_k)\max_s|\bar A(s)|\le4\alpha\epsilon\big(1-(1-\alpha)^t\big)", "≤",
             by_claim("STATE-DRIFT-BOUND", "coupling"), (tr_per_step,)),
        Step(r"|\eta(\tilde\pi)-L_\pi(\tilde\pi)|\le\sum_t\gamma^t4\alpha\epsilon\big(1-(1-\alpha)^t\big)="
             r"\frac{4\alpha^2\gamma\epsilon}{(1-\gamma)(1-\gamma(1-\alpha))}", "≤",
             by_inequality("triangle", "sum over t, geometric series"),
             (tr_eq44_property, tr_eq44_fixtures, tr_geometric)),
        Step(r"\frac{4\alpha^2\gamma\epsilon}{(1-\gamma)(1-\gamma(1-\alpha))}\le\frac{4\epsilon\gamma}{(1-\gamma)^2}"
             r"\alpha^2\quad\text{(eq. 8)}", "≤", by_inequality("monotonicity", "1 - gamma(1-alpha) >= 1 - gamma"),
             (tr_eq8_exact, tr_eq8_symbolic)),
        Step(r"\alpha^2=(D_{TV}^{\max})^2\le D_{KL}^{\max}(\pi,\tilde\pi)\ \Rightarrow\ "
             r"L_\pi(\tilde\pi)-\eta(\tilde\pi)"
             r"\le\frac{4\epsilon\gamma}{(1-\gamma)^2}D_{KL}^{\max}(\pi,\tilde\pi)\quad\text{(eq. 9)}", "≤",
             by_claim("PINSKER", "D_TV^2 <= KL/2 <= KL"), (tr_eq9,)),
    ),
    notes="alpha = max_s D_TV(pi(.|s), pi~(.|s)); D_KL^max old-to-new. The escape chain attains eq. (44) with ratio "
          "1/2; "
          "the 3-state fixture reaches 0.89989, so a halved constant is caught.",
)

# =========================================================================== DERIV-PG-THEOREM (repair)


@step_check()
def pg_factor_exact(ctx: Context) -> Comparison:
    lhs, rhs, sc = [], [], []
    for mdp, z, _ in random_instances(ctx, 6):
        pi = M.softmax(z)
        lhs.append(M.expected_return(mdp, pi))
        rhs.append(float(mdp.initial @ np.sum(pi * M.action_values(mdp, pi), 1)))
        sc.append(scale_of(mdp))
    return Comparison("exact", lhs, rhs, "J = sum_s rho_0(s) sum_a pi Q (6 random MDPs)", tol=1e-12, scale=sc)


@step_check()
def pg_factor_symbolic(ctx: Context) -> Comparison:
    P = sympy_pair()
    m, new, en = P["m"], P["new"], P["en"]
    return Comparison("symbolic", en["J"], sum(m["mu"][s] * sum(new[s][a] * en["Q"][s][a] for a in range(2))
                                              for s in range(2)), "J = sum_s rho_0 sum_a pi Q, symbolic policy")


def _grad_pi_q(pi: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """[s, b] = sum_a d pi(a|s)/d z[s, b] Q(s, a) for the tabular softmax."""
    return pi * (Q - np.sum(pi * Q, 1, keepdims=True))


def _product_rule(mdp: M.FiniteMDP, z: np.ndarray) -> np.ndarray:
    """sum_s rho_0(s) sum_a [grad pi(a|s) Q(s, a) + pi(a|s) grad Q(s, a)], grad Q = gamma sum_s' P grad V(s')."""
    pi = M.softmax(z)
    Q = M.action_values(mdp, pi)
    S = mdp.n_states
    gradV = np.stack([G.policy_gradient(mdp.replace(initial=np.eye(S)[k]), z) for k in range(S)])  # [s', S, A]
    gradQ = mdp.gamma * np.einsum("sat,tij->saij", mdp.transitions, gradV)
    first = mdp.initial[:, None] * _grad_pi_q(pi, Q)
    second = np.einsum("s,sa,saij->ij", mdp.initial, pi, gradQ)
    return np.asarray(first + second)


@step_check()
def pg_product_exact(ctx: Context) -> Comparison:
    return on_instances(ctx, 6, G.policy_gradient, _product_rule, "reference policy_gradient = sum_s rho_0 sum_a "
                        "(grad pi Q + pi grad Q), grad Q = gamma P grad V (6 random MDPs)", tol=1e-11)


@step_check()
def pg_unrolled_exact(ctx: Context) -> Comparison:
    def unrolled(mdp: M.FiniteMDP, z: np.ndarray) -> np.ndarray:
        pi = M.softmax(z)
        return M.visitation(mdp, pi)[:, None] * _grad_pi_q(pi, M.action_values(mdp, pi))

    return on_instances(ctx, 6, _product_rule, unrolled, "the product-rule form = sum_s rho_pi(s) sum_a grad pi Q "
                        "(6 random MDPs)", tol=1e-11)


derivation(
    id="DERIV-PG-THEOREM",
    title="The policy-gradient theorem: factor J with ρ₀, differentiate, unroll ∇Q",
    source=Source("Sutton, McAllester, Singh & Mansour (2000), Theorem 1 and its proof"),
    expected="verified",
    proves=("PG-THEOREM",),
    steps=(
        Step(r"J(\theta)=\sum_s\rho_0(s)\sum_a\pi_\theta(a|s)Q^{\pi_\theta}(s,a)", "",
             by_definition("Q and the start distribution rho_0"), (pg_factor_exact, pg_factor_symbolic)),
        Step(r"\nabla_\theta J=\sum_s\rho_0(s)\sum_a\big[\nabla_\theta\pi_\theta(a|s)Q^{\pi_\theta}(s,a)+"
             r"\pi_\theta(a|s)\nabla_\theta Q^{\pi_\theta}(s,a)\big],\ \nabla Q(s,a)=\gamma\sum_{s'}P(s'|s,a)"
             r"\nabla V(s')", "=", by_identity("calculus", "product rule; rho_0 does not depend on theta"),
             (pg_product_exact,)),
        Step(r"\nabla_\theta J=\sum_s\rho_{\pi_\theta}(s)\sum_a\nabla_\theta\pi_\theta(a|s)Q^{\pi_\theta}(s,a),\ "
             r"\rho_\pi(s)=\sum_t\gamma^tP(s_t=s)", "=", by_claim("PG-THEOREM", "unroll the recursion for grad V"),
             (pg_unrolled_exact, pgt_symbolic)),
    ),
)
