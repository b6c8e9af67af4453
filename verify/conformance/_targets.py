"""The conformance targets: which reference functions ``check`` knows, how it draws their inputs,
and the regions (episode ends, clip branches, padding) it uses to say *where* an implementation differs."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from reference_impls._validation import as_flags
from reference_impls.losses import clip_bounds
from verify.conformance import _inputs as I

Regions = dict[str, np.ndarray]

#: Inputs holding log-probabilities or log-ratios: their magnitude L enters the tolerance as (1 + L).
LOG_INPUTS = ("log_probs", "old_log_probs", "log_p", "log_q", "log_rhos", "learner_log_probs", "sampler_log_probs",
              "behavior_log_probs")


@dataclass(frozen=True)
class Target:
    """One reference function that implementations can be checked against."""

    name: str  # "returns.gae"
    family: str  # "returns", "ratio", "kl", "mask", "group", "importance"
    strategy: Callable[..., Any]  # (params, fixed, requires, dtypes) -> strategy of examples
    regions: Callable[[dict[str, Any], tuple[int, ...]], Regions] = field(default=lambda ex, shape: {})
    #: For an output that jumps (a count of clipped tokens): ``ties(args, eps)`` is the extra absolute tolerance of
    #: an example, the share of its elements whose value lies within rounding (eps: the example's machine epsilon)
    #: of a jump, where either side is a correct answer.
    ties: Callable[[dict[str, Any], float], float] | None = None

    @property
    def dotted(self) -> str:
        return f"reference_impls.{self.name}"

    @property
    def ref(self) -> Callable[..., Any]:
        mod, _, attr = self.name.rpartition(".")
        return getattr(importlib.import_module(f"reference_impls.{mod}"), attr)  # type: ignore[no-any-return]

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.ref)

    @property
    def params(self) -> tuple[str, ...]:
        """The reference's positional parameters, in order (keyword-only ones stay at their defaults)."""
        return tuple(p.name for p in self.signature.parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.signature.parameters.values() if p.default is not p.empty}


# --------------------------------------------------------------------------- regions


def _episode_regions(ex: dict[str, Any], shape: tuple[int, ...]) -> Regions:
    term = np.asarray(ex["terminated"], dtype=bool)
    trunc = np.asarray(ex["truncated"], dtype=bool)
    if term.shape != shape:
        return {}
    end = term | trunc
    before = np.zeros(shape, dtype=bool)
    before[..., :-1] = end[..., 1:]
    last = np.zeros(shape, dtype=bool)
    last[..., -1] = True
    return {"terminated steps": term, "truncated steps": trunc, "the last step of the array": last & ~end,
            "steps just before an episode end": before & ~end,
            "steps inside episodes": ~end & ~before & ~last}


def _ratio_regions(ex: dict[str, Any], shape: tuple[int, ...]) -> Regions:
    lp = np.asarray(ex["log_probs"], dtype=np.float64)
    if lp.shape != shape:
        return {}
    with np.errstate(over="ignore"):
        r = np.exp(lp - np.asarray(ex["old_log_probs"], dtype=np.float64))
    eps = ex.get("clip_eps", 0.2)
    lo, hi = (eps, eps) if not isinstance(eps, tuple | list) else (float(eps[0]), float(eps[1]))
    out: Regions = {"ratios above the clip band": r > 1 + hi, "ratios below the clip band": r < 1 - lo,
                    "ratios inside the clip band": (r >= 1 - lo) & (r <= 1 + hi)}
    if "advantages" in ex:
        a = np.asarray(ex["advantages"], dtype=np.float64)
        out.update({"negative advantages": a < 0, "positive advantages": a > 0, "zero advantages": a == 0})
        c = ex.get("dual_clip")
        if c is not None:
            out["A < 0 with ratio above the dual-clip constant"] = (a < 0) & (r > float(c))
    if "mask" in ex and ex["mask"] is not None:
        out["masked-out elements"] = ~np.asarray(ex["mask"], dtype=bool)
    return out


def _mask_regions(ex: dict[str, Any], shape: tuple[int, ...]) -> Regions:
    m = np.asarray(ex["mask"], dtype=bool)
    if m.shape == shape:
        return {"masked-out tokens": ~m, "policy tokens": m}
    if m.shape[:-1] == shape:
        n = m.sum(axis=-1)
        return {"rows with masked-out tokens": n < m.shape[-1], "fully unmasked rows": n == m.shape[-1],
                "single-token rows": n == 1, "all-masked rows": n == 0}
    return {}


def _kl_regions(ex: dict[str, Any], shape: tuple[int, ...]) -> Regions:
    lr = np.asarray(ex["log_q"], dtype=np.float64) - np.asarray(ex["log_p"], dtype=np.float64)
    if lr.shape != shape:
        return {}
    return {"log r near 0 (|log r| < 1e-3)": np.abs(lr) < 1e-3, "log r > 0 (q > p)": lr > 0,
            "log r < 0 (q < p)": lr < 0, "|log r| > 10": np.abs(lr) > 10}


def _group_regions(ex: dict[str, Any], shape: tuple[int, ...]) -> Regions:
    r = np.asarray(ex["rewards"], dtype=np.float64)
    if r.shape != shape:
        return {}
    const = np.broadcast_to((r.max(axis=-1) == r.min(axis=-1))[..., None], shape)
    return {"constant groups": const, "groups with spread": ~const}


def _clip_fraction_ties(args: dict[str, Any], eps: float) -> float:
    """The share of counted elements whose ratio lies within 4 ulp (``eps``: the example's machine epsilon)
    of a band edge.

    Whether ``exp(log_probs - old_log_probs)`` lands just above or just below ``1 + eps`` there depends on
    the last bit of the exp in use (numpy's and torch's differ by one ulp on some such inputs), so two correct
    implementations may count such an element differently. Exact ties at an edge are among them, so the kit
    does not judge strictness at the edges (a ``>=`` for ``>`` differs from a correct implementation only
    where the exp in use decides the answer); the reference states its strict comparisons."""
    lp, old = np.asarray(args["log_probs"], dtype=np.float64), np.asarray(args["old_log_probs"], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.exp(lp - old)
    lo, hi = clip_bounds(args["clip_eps"])
    near = (np.abs(r - (1.0 - lo)) <= 4 * eps * (1.0 - lo)) | (np.abs(r - (1.0 + hi)) <= 4 * eps * (1.0 + hi))
    m = np.ones(r.shape, dtype=bool) if args.get("mask") is None else as_flags(args["mask"], "mask")
    n = int(np.count_nonzero(m))
    return int(np.count_nonzero(near & m)) / n if n else 0.0


# --------------------------------------------------------------------------- the list


def _t(name: str, family: str, strategy: Callable[..., Any],
       regions: Callable[[dict[str, Any], tuple[int, ...]], Regions]) -> Target:
    return Target(name, family, strategy, regions)


_R, _P, _K, _G, _S = I.returns_example, I.ratio_example, I.kl_example, I.group_example, I.importance_example
_MT = partial(I.mask_example, rows_nonempty=False)
_MS = partial(I.mask_example, rows_nonempty=True)
_none: Callable[[dict[str, Any], tuple[int, ...]], Regions] = lambda ex, shape: {}  # noqa: E731

TARGETS: dict[str, Target] = {t.name: t for t in [
    _t("returns.discounted_returns", "returns", _R, _episode_regions),
    _t("returns.gae", "returns", _R, _episode_regions),
    _t("returns.lambda_returns", "returns", _R, _episode_regions),
    _t("returns.vtrace", "returns", _R, _episode_regions),
    _t("returns.retrace", "returns", _R, _episode_regions),
    _t("divergences.kl_estimator", "kl", _K, _kl_regions),
    _t("losses.ppo_clip_objective", "ratio", _P, _ratio_regions),
    Target("losses.clip_fraction", "ratio", _P, _none, ties=_clip_fraction_ties),
    _t("losses.kl_penalized_objective", "ratio", _P, _ratio_regions),
    _t("losses.sapo_objective", "ratio", _P, _ratio_regions),
    _t("losses.aggregate", "mask", _MS, _none),
    _t("losses.grpo_advantages", "group", _G, _group_regions),
    _t("losses.rloo_advantages", "group", _G, _group_regions),
    _t("losses.gspo_sequence_ratio", "mask", _MS, _mask_regions),
    _t("losses.gspo_objective", "mask", _MS, _mask_regions),
    _t("mismatch.token_log_ratios", "mask", _MT, _mask_regions),
    _t("mismatch.token_is_weights", "mask", _MT, _mask_regions),
    _t("mismatch.sequence_log_is_weights", "mask", _MS, _mask_regions),
    _t("mismatch.sequence_is_weights", "mask", _MS, _mask_regions),
    _t("mismatch.sequence_mask_weights", "mask", _MS, _mask_regions),
    _t("mismatch.gspo_ratio", "mask", _MS, _mask_regions),
    _t("importance.importance_weights", "importance", _S, _none),
    _t("importance.trajectory_importance_weights", "importance", _S, _none),
    _t("importance.cumulative_importance_weights", "importance", _S, _none),
    _t("importance.trajectory_is", "importance", _S, _none),
    _t("importance.per_decision_is", "importance", _S, _none),
    _t("importance.ordinary_is", "importance", _S, _none),
    _t("importance.self_normalized_is", "importance", _S, _none),
    _t("importance.truncated_is", "importance", _S, _none),
    _t("importance.ionides_level", "importance", _S, _none),
    _t("importance.effective_sample_size", "importance", _S, _none),
]}


def get(target: str) -> Target:
    """The :class:`Target` named ``target`` (``"returns.gae"``; a ``reference_impls.`` prefix is accepted)."""
    if not isinstance(target, str):
        raise ValueError(f"target: expected a reference function name such as 'returns.gae', got {target!r}")
    name = target.removeprefix("reference_impls.")
    if name not in TARGETS:
        raise ValueError(f"target: expected one of {sorted(TARGETS)}, got {target!r}")
    return TARGETS[name]
