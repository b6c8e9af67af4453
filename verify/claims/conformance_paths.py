"""Every execution path of the sequence-level references conforms, checked with the conformance kit.

A user's call of ``reference_impls.returns.gae`` runs the numba kernel when numba is installed and
the numpy scan otherwise; ``reference_impls.torch`` mirrors every sequence-level function in the
input's dtype. These claims run :func:`verify.conformance.check` -- the same hunted inputs, shrinking
and tolerance a user gets -- on each path:

* returns targets: the numba path (``backend="numba"``, when numba is importable), the numpy
  path (``backend="numpy"``) and the torch mirror (float64 and float32) against the plain-loop
  ground truth of :mod:`reference_impls._returns_loop`; the loop ground truth against the public
  function;
* losses, divergences, mismatch and importance targets: the torch mirror (float64 and float32) against
  the numpy reference.

Each check also runs a planted bug through the same ``check`` and requires it to be caught, so the
check can fail.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from reference_impls import _returns_loop as L
from reference_impls import returns as R
from verify.conformance import adapters, check
from verify.harness import check as evidence_check
from verify.mutants import CATALOGUE
from verify.registry import CheckSkipped, Context, Evidence, Source, claim

FAMILY = "value-targets"

RETURNS_TARGETS = ("discounted_returns", "gae", "lambda_returns", "vtrace", "retrace")
OTHER_TARGETS = ("divergences.kl_estimator", "losses.ppo_clip_objective", "losses.clip_fraction", "losses.aggregate",
                 "losses.grpo_advantages", "losses.rloo_advantages", "losses.gspo_sequence_ratio",
                 "losses.gspo_objective", "losses.kl_penalized_objective", "losses.sapo_objective",
                 "mismatch.token_is_weights", "mismatch.sequence_is_weights", "mismatch.sequence_mask_weights",
                 "mismatch.gspo_ratio", "importance.trajectory_is", "importance.per_decision_is",
                 "importance.ordinary_is", "importance.self_normalized_is", "importance.truncated_is",
                 "importance.effective_sample_size")


def _loop(name: str) -> Callable[..., Any]:
    if name == "lambda_returns":
        def lam_ret(rewards: Any, values: Any, next_values: Any, terminated: Any, truncated: Any, gamma: float,
                    lam: float) -> Any:
            adv = L.gae_loop(rewards, values, next_values, terminated, truncated, gamma, lam)
            return adv + np.asarray(values, dtype=np.float64)
        return lam_ret
    return getattr(L, f"{name}_loop")  # type: ignore[no-any-return]


def _backend_path(name: str, on: bool) -> Callable[..., Any]:
    fn = getattr(R, name)

    def path(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, backend="numba" if on else "numpy", **kwargs)

    return path


def _torch_path(target: str) -> Callable[..., Any] | None:
    try:
        mod, _, attr = target.rpartition(".")
        return adapters.torch_tensors(getattr(importlib.import_module(f"reference_impls.torch.{mod}"), attr), target)
    except ImportError:
        return None


def _run(ctx: Context, cases: list[tuple[str, str, Callable[..., Any], Callable[..., Any] | None]],
         control: tuple[str, Callable[..., Any]]) -> Evidence:
    n = ctx.profile.max_examples
    seed = ctx.sub_seed("paths")
    figures: dict[str, Any] = {"examples_per_path": n, "seed": seed}
    failures = []
    for label, target, fn, reference in cases:
        res = check(fn, target, examples=n, seed=seed, reference=reference)
        figures[label] = {"conforms": res.passed, "examples": res.examples, "max_abs_error": res.max_abs_error}
        if not res.passed:
            failures.append(f"{label}: {res}")
    target, bug = control
    ctl = check(bug, target, examples=n, seed=seed)
    figures["negative_control"] = {"target": target, "caught": not ctl.passed, "diagnosis": list(ctl.diagnosis)}
    if failures:  # a path differs: a counterexample, shrunk and re-checked by check itself
        return Evidence("property", False, "; ".join(failures), figures, counterexample=failures[0])
    if ctl.passed:  # too few examples to catch the planted bug: underpowered, so undecided, never refuted
        return Evidence("property", None, f"every path conforms on {n} examples, but the negative control "
                        f"({target}) was not caught with so few examples: the check is underpowered", figures)
    summary = (f"{len(cases)} paths conform on {n} hunted examples each; the planted bug in the negative control "
               f"is caught ({', '.join(ctl.diagnosis) or 'not named'})")
    return Evidence("property", True, summary, figures)


@evidence_check("property")
def returns_paths_conform(ctx: Context) -> Evidence:
    """numba, numpy and torch (float64, float32) paths against the loop ground truth; the loop against the public
    function; negative control: a termination bootstrapped (gae:bootstrap-through-terminated) must be caught."""
    cases: list[tuple[str, str, Callable[..., Any], Callable[..., Any] | None]] = []
    for name in RETURNS_TARGETS:
        target = f"returns.{name}"
        loop = _loop(name)
        if R._NB is not None:
            cases.append((f"{name}/numba", target, _backend_path(name, True), loop))
        cases.append((f"{name}/numpy", target, _backend_path(name, False), loop))
        torch_fn = _torch_path(target)
        if torch_fn is not None:
            cases.append((f"{name}/torch", target, torch_fn, loop))
        cases.append((f"{name}/loop", target, loop, None))
    return _run(ctx, cases, ("returns.gae", CATALOGUE["gae:bootstrap-through-terminated"].fn))


@evidence_check("property")
def torch_mirror_conforms(ctx: Context) -> Evidence:
    """The torch mirror of every other sequence-level target against the numpy reference (float64 and float32);
    negative control: k3 with the ratio inverted must be caught."""
    cases: list[tuple[str, str, Callable[..., Any], Callable[..., Any] | None]] = []
    for target in OTHER_TARGETS:
        fn = _torch_path(target)
        if fn is not None:
            cases.append((f"{target}/torch", target, fn, None))
    if not cases:
        raise CheckSkipped("torch is not installed")
    return _run(ctx, cases, ("divergences.kl_estimator", CATALOGUE["kl_estimator:k3-inverted-ratio"].fn))


claim(
    id="PATHS-CONFORM-RETURNS",
    title="Every execution path of the value targets (numba, numpy, torch, loop) conforms to the reference",
    statement=r"\text{for }f\in\{\text{discounted returns, GAE, }\lambda\text{-returns, V-trace, Retrace}\}:\ "
              r"f_{\text{numba}}\equiv f_{\text{numpy}}\equiv f_{\text{torch}}\equiv f_{\text{loop}}"
              r"\ \text{on hunted inputs (float64 and float32, within check's tolerance)}",
    source=Source("CONTRACT.md (one semantics on every path); verify.conformance.check"),
    family=FAMILY,
    expected="verified",
    kind="implementation",
    checks=(returns_paths_conform,),
    min_kinds=1,
    conventions=("tolerance: |got - ref| <= atol + rtol |ref| + 8 (T + 1) (1 + L) eps (|ref| + S + L), eps of the "
                 "input "
                 "dtype (verify.conformance.TOLERANCE_RULE)",),
    notes="The paths are selected with the public `backend=` keyword (numba or numpy) and the "
          "plain loops of `reference_impls._returns_loop` (the readable ground truth).",
)

claim(
    id="PATHS-CONFORM-TORCH",
    title="The torch mirror of every other sequence-level target conforms to the numpy reference",
    statement=r"\text{for every sequence-level }f\text{ of losses, divergences, mismatch, importance: }"
              r"f_{\text{torch}}\equiv f_{\text{numpy}}\ \text{on hunted inputs (float64 and float32)}",
    source=Source("CONTRACT.md (torch mirror: same semantics, dtype kept); verify.conformance.check"),
    family=FAMILY,
    expected="verified",
    kind="implementation",
    checks=(torch_mirror_conforms,),
    min_kinds=1,
)
