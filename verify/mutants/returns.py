"""Bug classes of the value targets (:mod:`reference_impls.returns`), on every execution path.

Public mutants replace a public function (every ``backend=`` then carries the bug); path mutants replace
one private function that only one path uses: a numba kernel (``backend="numba"``), a helper of the numpy
fallback (``backend="numpy"``), a recursion of the loop ground truth (``backend="loop"``), or a function
of the torch mirror. Each calls the captured original with the inputs the bug would feed it, or is
written out in plain numpy / torch.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from reference_impls import _returns_loop as RL
from reference_impls import returns as R
from verify.mutants._core import mutant

FAMILY = "value-targets"
_R = "reference_impls.returns"
_GAE, _VTRACE, _RETRACE, _RETURNS = R.gae, R.vtrace, R.retrace, R.discounted_returns
_TD, _CONT = R._td, R._continue_mask


def _flags(terminated: Any, truncated: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)


# --------------------------------------------------------------------------- public functions (every backend)


@mutant("gae:bootstrap-through-terminated", f"{_R}.gae", FAMILY,
        "GAE bootstraps gamma * V(s_{t+1}) at a terminal step (terminated treated like a time-limit cut; "
        "tianshou #869 confusion)")
def gae_bootstrap_through_terminated(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                                     gamma: float, lam: float, *, backend: str = "auto") -> np.ndarray:
    te, tr = _flags(terminated, truncated)
    return _GAE(rewards, values, next_values, np.zeros_like(te), te | tr, gamma, lam, backend=backend)


@mutant("gae:truncation-as-termination", f"{_R}.gae", FAMILY,
        "GAE treats a time-limit truncation as termination, no bootstrap (SB3 #633, CleanRL #198)")
def gae_truncation_as_termination(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                                  gamma: float, lam: float, *, backend: str = "auto") -> np.ndarray:
    te, tr = _flags(terminated, truncated)
    return _GAE(rewards, values, next_values, te | tr, np.zeros_like(tr), gamma, lam, backend=backend)


@mutant("gae:trace-through-episode-end", f"{_R}.gae", FAMILY,
        "GAE's backward recursion does not reset at episode ends: advantages leak across episodes "
        "(tianshou #886, verl PR #50)")
def gae_trace_through_end(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                          gamma: float, lam: float, *, backend: str = "auto") -> np.ndarray:
    te, _ = _flags(terminated, truncated)
    r, v, nv = (np.asarray(a, dtype=np.float64) for a in (rewards, values, next_values))
    delta = r + gamma * np.where(te, 0.0, nv) - v
    out = np.empty_like(delta)
    acc = np.zeros(delta.shape[:-1])
    for t in range(delta.shape[-1] - 1, -1, -1):
        acc = delta[..., t] + gamma * lam * acc
        out[..., t] = acc
    return out


@mutant("gae:missing-gamma-in-trace", f"{_R}.gae", FAMILY,
        "GAE decays the trace by lambda only, A_t = delta_t + lam A_{t+1} (gamma dropped from gamma*lam)")
def gae_missing_gamma(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                      gamma: float, lam: float, *, backend: str = "auto") -> np.ndarray:
    te, tr = _flags(terminated, truncated)
    r, v, nv = (np.asarray(a, dtype=np.float64) for a in (rewards, values, next_values))
    delta = r + gamma * np.where(te, 0.0, nv) - v
    out = np.empty_like(delta)
    T = delta.shape[-1]
    acc = np.zeros(delta.shape[:-1])
    for t in range(T - 1, -1, -1):
        cont = ~(te[..., t] | tr[..., t]) & (t < T - 1)
        acc = delta[..., t] + lam * np.where(cont, acc, 0.0)
        out[..., t] = acc
    return out


@mutant("discounted_returns:truncation-as-termination", f"{_R}.discounted_returns", FAMILY,
        "discounted returns stop at a truncation without bootstrapping V(final obs) (SB3 #633)")
def returns_truncation_as_termination(rewards: Any, next_values: Any, terminated: Any, truncated: Any,
                                      gamma: float, *, backend: str = "auto") -> np.ndarray:
    te, tr = _flags(terminated, truncated)
    return _RETURNS(rewards, next_values, te | tr, np.zeros_like(tr), gamma, backend=backend)


@mutant("discounted_returns:no-bootstrap-at-end", f"{_R}.discounted_returns", FAMILY,
        "discounted returns treat the end of the array as a terminal state (no bootstrap from the last "
        "next value; rlax #140 dispute)")
def returns_no_bootstrap_at_end(rewards: Any, next_values: Any, terminated: Any, truncated: Any,
                                gamma: float, *, backend: str = "auto") -> np.ndarray:
    te, tr = _flags(terminated, truncated)
    te = te.copy()
    te[..., -1] |= ~tr[..., -1]
    tr = tr.copy()
    tr[..., -1] = False
    return _RETURNS(rewards, next_values, te, tr, gamma, backend=backend)


@mutant("lambda_returns:missing-values", f"{_R}.lambda_returns", FAMILY,
        "lambda-returns returned without adding the values back (the GAE advantages used as value targets)")
def lambda_returns_missing_values(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any,
                                  gamma: float, lam: float, *, backend: str = "auto") -> np.ndarray:
    return _GAE(rewards, values, next_values, terminated, truncated, gamma, lam, backend=backend)


@mutant("vtrace:trace-off-by-one", f"{_R}.vtrace", FAMILY,
        "V-trace eq. (1) with the trace product prod_{i=s}^{t-2} c_i instead of prod_{i=s}^{t-1} c_i (the TRFL / "
        "scalable_agent test oracle's np.prod(cs[s:t-1]))")
def vtrace_trace_off_by_one(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any,
                            truncated: Any, gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                            pg_rho_bar: float = 1.0, *, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    r, v, nv, lr = (np.asarray(a, dtype=np.float64) for a in (rewards, values, next_values, log_rhos))
    te, tr = _flags(terminated, truncated)
    shape = r.shape
    T = shape[-1]
    r, v, nv, lr = (a.reshape(-1, T) for a in (r, v, nv, lr))
    te, tr = te.reshape(-1, T), tr.reshape(-1, T)
    ratio = np.exp(lr)
    rho, cs, pgr = np.minimum(ratio, rho_bar), lam * np.minimum(ratio, c_bar), np.minimum(ratio, pg_rho_bar)
    vs = np.empty_like(r)
    pg = np.empty_like(r)
    for b in range(r.shape[0]):
        ends = [t for t in range(T) if te[b, t] or tr[b, t] or t == T - 1]
        for s in range(T):
            e = min(t for t in ends if t >= s)
            acc = 0.0
            trace = 1.0  # prod(cs[b, s:max(s, t - 1)]) as a running product (the same multiplications, in order)
            for t in range(s, e + 1):
                if t - 1 > s:
                    trace *= float(cs[b, t - 2])
                delta = rho[b, t] * (r[b, t] + (0.0 if te[b, t] else gamma) * nv[b, t] - v[b, t])
                acc += gamma ** (t - s) * trace * delta
            vs[b, s] = v[b, s] + acc
        for t in range(T):
            q = vs[b, t + 1] if t < T - 1 and not (te[b, t] or tr[b, t]) else nv[b, t]
            pg[b, t] = pgr[b, t] * (r[b, t] + (0.0 if te[b, t] else gamma) * q - v[b, t])
    return vs.reshape(shape), pg.reshape(shape)


@mutant("vtrace:cbar-as-rhobar", f"{_R}.vtrace", FAMILY,
        "V-trace clips the traces c_t at rho_bar instead of c_bar (one clip level used for both)")
def vtrace_cbar_as_rhobar(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any,
                          truncated: Any, gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                          pg_rho_bar: float = 1.0, *, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    return _VTRACE(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam, rho_bar, rho_bar,
                   pg_rho_bar, backend=backend)


@mutant("vtrace:pg-bootstrap-next-episode", f"{_R}.vtrace", FAMILY,
        "V-trace pg advantage at a truncation bootstraps from the next trajectory's vs instead of V(final obs) "
        "(torchrl #4209 / PR #4210)")
def vtrace_pg_next_episode(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any,
                           truncated: Any, gamma: float, lam: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
                           pg_rho_bar: float = 1.0, *, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    vs, pg = _VTRACE(rewards, values, next_values, log_rhos, terminated, truncated, gamma, lam, rho_bar, c_bar,
                     pg_rho_bar, backend=backend)
    _, tr = _flags(terminated, truncated)
    r, v, lr = (np.asarray(a, dtype=np.float64) for a in (rewards, values, log_rhos))
    at = tr.copy()
    at[..., -1] = False
    q = np.zeros_like(vs)
    q[..., :-1] = vs[..., 1:]
    wrong = np.minimum(np.exp(lr), pg_rho_bar) * (r + gamma * q - v)
    return vs, np.where(at, wrong, pg)


@mutant("vtrace:truncation-as-termination", f"{_R}.vtrace", FAMILY,
        "V-trace treats a time-limit truncation as termination (no bootstrap at the cut)")
def vtrace_truncation_as_termination(rewards: Any, values: Any, next_values: Any, log_rhos: Any, terminated: Any,
                                     truncated: Any, gamma: float, lam: float = 1.0, rho_bar: float = 1.0,
                                     c_bar: float = 1.0, pg_rho_bar: float = 1.0, *,
                                     backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    te, tr = _flags(terminated, truncated)
    return _VTRACE(rewards, values, next_values, log_rhos, te | tr, np.zeros_like(tr), gamma, lam, rho_bar, c_bar,
                   pg_rho_bar, backend=backend)


@mutant("retrace:trace-current-step", f"{_R}.retrace", FAMILY,
        "Retrace weights the correction of step t+1 by c_t (the current action's trace) instead of c_{t+1}")
def retrace_trace_current_step(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any,
                               truncated: Any, gamma: float, lam: float = 1.0, c_bar: float = 1.0, *,
                               backend: str = "auto") -> np.ndarray:
    lr = np.asarray(log_rhos, dtype=np.float64)
    shifted = np.concatenate([lr[..., :1], lr[..., :-1]], axis=-1)
    return _RETRACE(rewards, q_values, next_expected_q, shifted, terminated, truncated, gamma, lam, c_bar,
                    backend=backend)


@mutant("retrace:untruncated-traces", f"{_R}.retrace", FAMILY,
        "Retrace uses c = lam * pi/mu without the min(c_bar, .) truncation (plain per-decision IS traces)")
def retrace_untruncated(rewards: Any, q_values: Any, next_expected_q: Any, log_rhos: Any, terminated: Any,
                        truncated: Any, gamma: float, lam: float = 1.0, c_bar: float = 1.0, *,
                        backend: str = "auto") -> np.ndarray:
    return _RETRACE(rewards, q_values, next_expected_q, log_rhos, terminated, truncated, gamma, lam, np.inf,
                    backend=backend)


# --------------------------------------------------------------------------- the numpy fallback only


@mutant("_td:bootstrap-through-terminated", f"{_R}._td", FAMILY,
        "numpy fallback only: its TD error bootstraps gamma * next_values at terminated steps (gae, vtrace, "
        "retrace on backend='numpy')")
def td_bootstrap_through_terminated(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray,
                                    term: np.ndarray, gamma: float) -> np.ndarray:
    return _TD(rewards, values, next_values, np.zeros_like(term), gamma)


@mutant("_continue_mask:trace-through-truncation", f"{_R}._continue_mask", FAMILY,
        "numpy fallback only: the recursion continues through a truncation (only termination cuts the trace)")
def continue_through_truncation(term: np.ndarray, trunc: np.ndarray) -> np.ndarray:
    return _CONT(term, np.zeros_like(trunc))


# --------------------------------------------------------------------------- the loop ground truth only

_GAE_SEQ, _VTRACE_SEQ, _RETRACE_SEQ, _RETURNS_SEQ = RL.gae_seq, RL.vtrace_seq, RL.retrace_seq, RL.discounted_returns_seq
_L = "reference_impls._returns_loop"


@mutant("gae_seq:truncation-as-termination", f"{_L}.gae_seq", FAMILY,
        "loop ground truth only: the GAE recursion treats a truncation as termination")
def gae_seq_truncation(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: Any,
                       lam: Any) -> list[Any]:
    done = [bool(a) or bool(b) for a, b in zip(terminated, truncated)]
    return _GAE_SEQ(rewards, values, next_values, done, [False] * len(done), gamma, lam)


@mutant("vtrace_seq:cbar-as-rhobar", f"{_L}.vtrace_seq", FAMILY,
        "loop ground truth only: V-trace traces clipped at rho_bar instead of c_bar")
def vtrace_seq_cbar(rewards: Any, values: Any, next_values: Any, ratios: Any, terminated: Any, truncated: Any,
                    gamma: Any, lam: Any = 1, rho_bar: Any = 1, c_bar: Any = 1, pg_rho_bar: Any = 1
                    ) -> tuple[list[Any], list[Any]]:
    return _VTRACE_SEQ(rewards, values, next_values, ratios, terminated, truncated, gamma, lam, rho_bar, rho_bar,
                       pg_rho_bar)


@mutant("retrace_seq:trace-current-step", f"{_L}.retrace_seq", FAMILY,
        "loop ground truth only: Retrace uses the current step's trace c_t instead of c_{t+1}")
def retrace_seq_current(rewards: Any, q_values: Any, next_expected_q: Any, ratios: Any, terminated: Any,
                        truncated: Any, gamma: Any, lam: Any = 1, c_bar: Any = 1) -> list[Any]:
    shifted = [ratios[0], *ratios[:-1]]
    return _RETRACE_SEQ(rewards, q_values, next_expected_q, shifted, terminated, truncated, gamma, lam, c_bar)


@mutant("discounted_returns_seq:no-bootstrap-at-truncation", f"{_L}.discounted_returns_seq", FAMILY,
        "loop ground truth only: discounted returns do not bootstrap at a truncation")
def returns_seq_truncation(rewards: Any, next_values: Any, terminated: Any, truncated: Any, gamma: Any) -> list[Any]:
    done = [bool(a) or bool(b) for a, b in zip(terminated, truncated)]
    return _RETURNS_SEQ(rewards, next_values, done, [False] * len(done), gamma)


# --------------------------------------------------------------------------- the numba kernels only

if importlib.util.find_spec("numba") is not None and R._NB is not None:
    _NB = R._NB
    _K = "reference_impls._returns_numba"
    _GAE_K, _VTRACE_K, _RETRACE_K, _RETURNS_K = _NB.gae_kernel, _NB.vtrace_kernel, _NB.retrace_kernel, \
        _NB.discounted_returns_kernel

    @mutant("gae_kernel:truncation-as-termination", f"{_K}.gae_kernel", FAMILY,
            "numba kernel only: GAE treats a truncation as termination (backend='numba')")
    def gae_kernel_truncation(r: np.ndarray, v: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray,
                              g: float, gl: float, out: np.ndarray) -> int:
        return int(_GAE_K(r, v, nv, te | tr, np.zeros_like(tr), g, gl, out))

    @mutant("vtrace_kernel:cbar-as-rhobar", f"{_K}.vtrace_kernel", FAMILY,
            "numba kernel only: V-trace traces clipped at rho_bar instead of c_bar (backend='numba')")
    def vtrace_kernel_cbar(r: np.ndarray, v: np.ndarray, nv: np.ndarray, lr: np.ndarray, te: np.ndarray,
                           tr: np.ndarray, g: float, lam: float, rho_bar: float, c_bar: float, pg_rho_bar: float,
                           vs: np.ndarray, pg: np.ndarray) -> int:
        return int(_VTRACE_K(r, v, nv, lr, te, tr, g, lam, rho_bar, rho_bar, pg_rho_bar, vs, pg))

    @mutant("retrace_kernel:untruncated-traces", f"{_K}.retrace_kernel", FAMILY,
            "numba kernel only: Retrace traces not truncated at c_bar (backend='numba')")
    def retrace_kernel_untruncated(r: np.ndarray, q: np.ndarray, nq: np.ndarray, lr: np.ndarray, te: np.ndarray,
                                   tr: np.ndarray, g: float, lam: float, c_bar: float, out: np.ndarray) -> int:
        return int(_RETRACE_K(r, q, nq, lr, te, tr, g, lam, np.inf, out))

    @mutant("discounted_returns_kernel:no-bootstrap-at-truncation", f"{_K}.discounted_returns_kernel", FAMILY,
            "numba kernel only: discounted returns do not bootstrap at a truncation (backend='numba')")
    def returns_kernel_truncation(r: np.ndarray, nv: np.ndarray, te: np.ndarray, tr: np.ndarray, g: float,
                                  out: np.ndarray) -> int:
        return int(_RETURNS_K(r, nv, te | tr, np.zeros_like(tr), g, out))
