"""The batched trajectory sampler draws by the inverse-CDF rule, on every execution path.

Every Monte Carlo claim draws its trajectories with :func:`reference_impls.sampling.sample_batched`,
which has a compiled path (numba, the default when installed) and a numpy path. This claim replays
the generator's uniforms through an independent statement of the rule — the drawn index is the number
of CDF entries ``<= u`` (``np.searchsorted(cdf, u, side="right")``), never beyond the last index — and
requires every path to return exactly those states and actions. A fault in either path (an
off-by-one comparison, a row of the wrong MDP, uniforms consumed in another order) makes the replay
disagree and turns this claim red, whichever path the other claims happen to use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference_impls import sampling as SM
from reference_impls.mdp import FiniteMDP
from verify.harness import Violation, check, property_evidence
from verify.registry import Context, Evidence, Source, claim
from verify.strategies import finite_mdps, policies

FAMILY = "importance-sampling"


def _paths() -> list[str]:
    return ["numpy"] + (["numba"] if SM._NB is not None else [])


def _replay(P: np.ndarray, mu: np.ndarray, pi: np.ndarray, H: int, E: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse-CDF draws, one episode and one step at a time, from the uniforms the sampler consumes:
    ``M`` for the start states, then ``2 M`` per step (actions first, then next states)."""
    B = P.shape[0]
    M = B * E
    g = np.random.default_rng(seed)
    u0 = g.random(M)
    u = [g.random((2, M)) for _ in range(H)]

    def draw(p: np.ndarray, x: float) -> int:
        return min(int(np.searchsorted(np.cumsum(p), x, side="right")), len(p) - 1)

    states = np.empty((B, E, H + 1), dtype=np.int64)
    actions = np.empty((B, E, H), dtype=np.int64)
    for m in range(M):
        b, e = divmod(m, E)
        s = draw(mu[b], u0[m])
        states[b, e, 0] = s
        for t in range(H):
            a = draw(pi[b, s], u[t][0, m])
            s = draw(P[b, s, a], u[t][1, m])
            actions[b, e, t], states[b, e, t + 1] = a, s
    return states, actions


def _compare(P: np.ndarray, mu: np.ndarray, pi: np.ndarray, H: int, E: int, seed: int) -> dict[str, Any] | None:
    """``None`` when every path matches the replay, else the first disagreement."""
    want_s, want_a = _replay(P, mu, pi, H, E, seed)
    for path in _paths():
        tr = SM.sample_batched(P, mu, pi, H, E, np.random.default_rng(seed), backend=path)
        if not (np.array_equal(tr.states, want_s) and np.array_equal(tr.actions, want_a)):
            bad = np.argwhere(tr.states != want_s)
            return {"path": path, "B": P.shape[0], "S": P.shape[1], "A": P.shape[2], "H": H, "E": E, "seed": seed,
                    "first_state_mismatch": bad[0].tolist() if len(bad) else None,
                    "actions_equal": bool(np.array_equal(tr.actions, want_a))}
    return None


def _fixtures() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(20261129)
    out = []
    # dense: 3 MDPs, S = 4, A = 3
    P = rng.dirichlet(np.ones(4), size=(3, 4, 3))
    out.append(("dense B=3 S=4 A=3", P, rng.dirichlet(np.ones(4), size=3), rng.dirichlet(np.ones(3), size=(3, 4))))
    # zero-probability entries, first and last: they must never be drawn
    P = np.zeros((1, 3, 2, 3))
    P[0, :, 0] = [0.0, 0.5, 0.5]
    P[0, :, 1] = [0.5, 0.5, 0.0]
    pi = np.array([[[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]])
    out.append(("zeros at both ends", P, np.array([[0.0, 1.0, 0.0]]), pi))
    # one state, one action: every draw is index 0
    out.append(("S=1 A=1", np.ones((1, 1, 1, 1)), np.ones((1, 1)), np.ones((1, 1, 1))))
    # deterministic dynamics, rows whose cumulative sum rounds below 1
    P = np.zeros((2, 3, 3, 3))
    for b in range(2):
        for s in range(3):
            for a in range(3):
                P[b, s, a, (s + a + b) % 3] = 1.0
    third = np.full((2, 3, 3), 0.1 + 0.2)  # 0.30000000000000004: rows sum to 0.9000000000000001
    third[..., 2] = 1.0 - 2 * third[..., 0]
    out.append(("deterministic, rounded thirds", P, np.full((2, 3), 1 / 3), third))
    return out


@check("exact")
def sampler_replay_fixtures(ctx: Context) -> Evidence:
    draws = 0
    for name, P, mu, pi in _fixtures():
        H, E = 6, 7
        bad = _compare(P, mu, pi, H, E, ctx.sub_seed(name))
        if bad is not None:
            return Evidence("exact", False, f"{bad['path']} path draws differ from the inverse-CDF replay on '{name}'",
                            {"paths": _paths()}, counterexample=bad)
        draws += P.shape[0] * E * (2 * H + 1)
    return Evidence("exact", True, "every path returns exactly the inverse-CDF draws of the replayed uniforms on "
                    "four fixtures (dense, zero-probability ends, S=A=1, rounded rows)",
                    {"paths": _paths(), "fixtures": len(_fixtures()), "draws_per_path": draws})


@st.composite
def _batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    mdps: list[FiniteMDP] = []
    B = draw(st.integers(1, 3))
    S, A = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    for _ in range(B):
        mdps.append(draw(finite_mdps(n_states=st.just(S), n_actions=st.just(A))))
    pis = [draw(policies(S, A, floor=0.0 if A == 1 else 1e-3)) for _ in range(B)]
    H, E = draw(st.integers(0, 5)), draw(st.integers(1, 6))
    return (np.stack([m.transitions for m in mdps]), np.stack([m.initial for m in mdps]), np.stack(pis), H, E,
            draw(st.integers(0, 2**32 - 1)))


@check("property")
def sampler_replay_random(ctx: Context) -> Evidence:
    def body(x: tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]) -> None:
        bad = _compare(*x)
        if bad is not None:
            raise Violation(f"{bad['path']} path draws differ from the inverse-CDF replay", **bad)

    return property_evidence(ctx, _batches(), body,
                             summary=f"random batches of MDPs: paths {', '.join(_paths())} equal the replay")


claim(
    id="SAMPLER-INVERSE-CDF",
    title="The batched trajectory sampler draws by inverse CDF on every execution path",
    statement=r"$a_t = \#\{k < A-1 : F_{\pi(\cdot|s_t)}(k) \le u\}$ and likewise for $s_0$ and $s_{t+1}$, "
              r"with the uniforms consumed in the documented order, on the compiled and the numpy path",
    source=Source("Devroye (1986), Non-Uniform Random Variate Generation, §III.2 (inversion by sequential search); "
                  "the sampler's documented draw order"),
    family=FAMILY,
    expected="verified",
    kind="implementation",
    checks=(sampler_replay_fixtures, sampler_replay_random),
    conventions=("a uniform u in [0, 1) selects the first index whose CDF entry exceeds u; the last index absorbs "
                 "a cumulative sum that rounds below 1",),
    notes="Every Monte Carlo claim of this suite samples through `sample_batched`; this claim is what turns red "
          "when one of its execution paths (compiled or numpy) draws wrongly.",
)
