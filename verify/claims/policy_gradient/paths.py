"""PATHS-MDP: the MDP quantities of reference_impls.mdp / gradients against truncated power series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reference_impls import gradients as G
from reference_impls import mdp as M
from verify.claims._paths import Case, Inputs, _path_checks, _t, _torch_mod
from verify.registry import Source, claim

# --------------------------------------------------------------------------- exact MDP quantities


def _mdp_inputs(rng: np.random.Generator) -> Inputs:
    m = M.random_mdp(rng, n_states=int(rng.integers(2, 5)), n_actions=int(rng.integers(2, 4)),
                     gamma=float(rng.choice([0.0, 0.5, 0.8, 0.9])))
    return {"mdp": m, "logits": rng.normal(size=(m.n_states, m.n_actions))}


def _series(i: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V, the unnormalized visitation and Q by summing ``gamma^t`` terms until they are below 1e-17."""
    m, pi = i["mdp"], M.softmax(i["logits"])
    P = np.einsum("sa,sat->st", pi, m.transitions)
    r = (pi * m.rewards).sum(-1)
    V = np.zeros(m.n_states)
    rho = np.zeros(m.n_states)
    term_v, dist, disc = r.copy(), m.initial.copy(), 1.0
    while disc > 1e-17:
        V += disc * term_v
        rho += disc * dist
        term_v, dist, disc = P @ term_v, dist @ P, disc * m.gamma
    Q = m.rewards + m.gamma * m.transitions @ V
    return V, rho, Q


def _mdp_cases() -> list[Case]:
    def mdp_paths(fn: str, policy: bool = True) -> Callable[[Inputs, list[str]], dict[str, Any]]:
        def paths(i: Inputs, devices: list[str]) -> dict[str, Any]:
            m = i["mdp"]
            arg = M.softmax(i["logits"]) if policy else i["logits"]
            out = {"numpy": getattr(G if fn == "policy_gradient" else M, fn)(m, arg)}
            for dev in devices:
                tm = _torch_mod("mdp")
                out[f"torch {dev}"] = getattr(tm, fn)(_t(m.transitions, dev), _t(m.rewards, dev),
                                                      _t(m.initial, dev), m.gamma, _t(arg, dev))
            return out

        return paths

    hand = tuple(_mdp_inputs(np.random.default_rng(s)) for s in (3, 11))

    def pg_def(i: Inputs, e: bool) -> np.ndarray:
        V, rho, Q = _series(i)
        pi = M.softmax(i["logits"])
        return rho[:, None] * pi * (Q - V[:, None])

    def surrogate_paths(i: Inputs, devices: list[str]) -> dict[str, Any]:
        m, z = i["mdp"], i["logits"]
        z_old = z + np.cos(np.arange(z.size)).reshape(z.shape)
        return {"numpy": np.asarray([G.surrogate(m, z, z_old), *G.surrogate_gradient(m, z, z_old).ravel()])}

    def surrogate_def(i: Inputs, e: bool) -> np.ndarray:
        # TRPO eq. 3: L_old(new) = J(old) + sum_s rho_old(s) sum_a pi_new(a|s) A_old(s, a), and its logit gradient
        z = i["logits"]
        old = {"mdp": i["mdp"], "logits": z + np.cos(np.arange(z.size)).reshape(z.shape)}
        V, rho, Q = _series(old)
        A = Q - V[:, None]
        pi = M.softmax(z)
        value = i["mdp"].initial @ V + rho @ np.sum(pi * A, axis=1)
        grad = rho[:, None] * pi * (A - np.sum(pi * A, axis=1, keepdims=True))
        return np.asarray([value, *grad.ravel()])

    return [
        Case("mdp.state_values", mdp_paths("state_values"), lambda i, e: _series(i)[0], hand, _mdp_inputs),
        Case("mdp.action_values", mdp_paths("action_values"), lambda i, e: _series(i)[2], hand, _mdp_inputs),
        Case("mdp.visitation", mdp_paths("visitation"), lambda i, e: _series(i)[1], hand, _mdp_inputs),
        Case("mdp.occupancy", mdp_paths("occupancy"), lambda i, e: (1 - i["mdp"].gamma) * _series(i)[1], hand,
             _mdp_inputs),
        Case("mdp.expected_return", mdp_paths("expected_return"), lambda i, e: i["mdp"].initial @ _series(i)[0],
             hand, _mdp_inputs),
        Case("gradients.policy_gradient", mdp_paths("policy_gradient", policy=False), pg_def, hand, _mdp_inputs),
        Case("gradients.surrogate", surrogate_paths, surrogate_def, hand, _mdp_inputs),
    ]


claim(
    id="PATHS-MDP",
    title="Every path of the exact MDP quantities equals the discounted series (numpy, torch)",
    statement=r"$V^\pi$, $Q^\pi$, the visitation $\sum_t \gamma^t P(s_t=s)$, the normalized occupancy "
              r"$(1-\gamma)\sum_t\gamma^t P(s_t=s)$, $J$, the policy gradient "
              r"$\rho^\pi(s)\pi(a|s)A^\pi(s,a)$ and TRPO's surrogate $L_{\pi_{old}}$ (eq. 3) with its gradient, "
              r"in numpy and in the torch mirror (linear solves), equal the truncated power series of their "
              r"definitions, to $10^{-9}$ of scale.",
    source=Source("Sutton et al. 1999, Theorem 1; Kakade & Langford 2002; Schulman et al. 2015, eq. 3; "
                  "the documented execution paths of reference_impls (backend= and the torch mirror)"),
    family="policy-gradient",
    kind="implementation",
    expected="verified",
    checks=_path_checks(_mdp_cases, "MDP paths"),
    conventions=("occupancy normalized, visitation unnormalized; the policy gradient includes gamma^t",),
)
