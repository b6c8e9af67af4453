"""Convention adapters: wrap an implementation written in another library's conventions once, and check it.

Each adapter returns a function with the **reference's signature** (so :func:`verify.conformance.check`
can call it as it calls the reference) that converts the arguments to the other convention, calls
``fn`` positionally with them, and converts the outputs back. Options combine in one call of
:func:`adapt`; the named shortcuts below apply one option each.

``dones`` -- one flag instead of terminated/truncated::

    my = adapters.dones(my_gae, "returns.gae")          # my_gae(rewards, values, next_values, dones, gamma, lam)
    assert_conforms(my, "returns.gae")

``discounts`` -- a per-step discount array ``gamma * (1 - terminal)`` instead of the flags and gamma (rlax)::

    my = adapters.discounts(my_gae, "returns.gae")      # my_gae(rewards, values, next_values, discounts, lam)
    assert_conforms(my, "returns.gae")

``values_stream`` -- one ``values`` array of length T + 1 instead of ``values`` and ``next_values``::

    # my_gae(rewards, values_T_plus_1, terminated, truncated, gamma, lam)
    my = adapters.values_stream(my_gae, "returns.gae")
    assert_conforms(my, "returns.gae")

``time_major`` -- arrays ``[T, ...]`` instead of ``[..., T]`` (the same as ``check(..., time_major=True)``)::

    my = adapters.time_major(my_gae, "returns.gae")
    assert_conforms(my, "returns.gae")

``outputs`` -- pick, reorder or complete the outputs (torchrl's ``(advantage, value_target)``, rlax's ``vs - v``)::

    my = adapters.outputs(torchrl_style_vtrace, "returns.vtrace", pick=(1, 0))   # returns (pg, vs) -> (vs, pg)
    my = adapters.outputs(rlax_style_vtrace, "returns.vtrace", pick=("errors", "pg_advantage"), plus_values=(0,))

``float_masks`` -- 0/1 float masks of the log-probs' dtype instead of bool masks::

    my = adapters.float_masks(my_seq_is, "mismatch.sequence_is_weights")
    assert_conforms(my, "mismatch.sequence_is_weights")

``torch_tensors`` -- torch tensors in (dtype kept), anything array-like out::

    my = adapters.torch_tensors(my_torch_gae, "returns.gae")
    assert_conforms(my, "returns.gae")

How the episode-end conventions are made exact: ``dones``, ``discounts`` and ``values_stream`` cannot
say "bootstrap from V(final observation) here", so a truncation at step t is passed as a terminal step
whose reward is ``r_t + gamma * next_values[t]`` (the Stable-Baselines3 timeout trick). For every
returns target (GAE, lambda-returns, discounted returns, V-trace vs and pg advantages, Retrace) this
gives exactly the reference's value, because each uses ``r_t + gamma * next_values[t]`` at a truncation
and cuts the trace there. ``values_stream`` also needs ``next_values[t] == values[t + 1]`` inside
episodes; the wrapper asks ``check`` for such inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from verify.conformance import _targets

_FLAGS = ("terminated-truncated", "dones", "discounts")


def adapt(fn: Callable[..., Any], target: str, *, flags: str = "terminated-truncated", values_stream: bool = False,
          time_major: bool = False, feature_dim: bool = False, float_masks: bool = False, torch: bool = False,
          pick: int | str | Sequence[int | str] | None = None, plus_values: Sequence[int] = ()) -> Callable[..., Any]:
    """Wrap ``fn`` (another convention) as a function with the reference's signature.

    Args:
      flags: ``"terminated-truncated"`` (ours), ``"dones"`` (one terminal flag, passed where
        ``terminated`` is) or ``"discounts"`` (``gamma * (1 - terminal)`` per step, passed where
        ``terminated`` is; ``gamma`` is not passed).
      values_stream: pass ``values`` of length T + 1 (the last entry bootstraps) and no ``next_values``.
      time_major: arrays reach ``fn`` as ``[T, ...]``; per-step outputs come back as ``[..., T]``.
      feature_dim: arrays get a trailing feature axis of size 1 (torchrl ``[*B, T, 1]``); removed from outputs.
      float_masks: ``mask`` arguments become 0/1 floats of the log-probs' dtype.
      torch: arrays become torch tensors (dtype kept; flags stay bool).
      pick: which of ``fn``'s outputs to return: an index, an attribute name (namedtuple field), or a
        sequence of them (returned as a tuple); ``None`` keeps the output as it is.
      plus_values: indices of the (picked) outputs to which ``values`` is added (rlax returns ``vs - v``).
    """
    tgt = _targets.get(target)
    sig = tgt.signature
    if flags not in _FLAGS:
        raise ValueError(f"flags: expected one of {_FLAGS}, got {flags!r}")
    params = tgt.params
    episodic = "terminated" in params
    if (flags != "terminated-truncated" or values_stream) and not episodic:
        raise ValueError(f"target: flags={flags!r} / values_stream apply to the returns targets, got {target!r}")
    if values_stream and not ("values" in params and "next_values" in params):
        raise ValueError(f"values_stream: expected a target with values and next_values, got {target!r}")
    if plus_values and "values" not in params and "q_values" not in params:
        raise ValueError(f"plus_values: expected a target with a values argument, got {target!r}")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ba = sig.bind(*args, **kwargs)
        ba.apply_defaults()
        a = {k: v for k, v in ba.arguments.items() if k in params}
        names = list(a)
        if episodic and (flags != "terminated-truncated" or values_stream):
            te = np.asarray(a["terminated"], dtype=bool)
            tr = np.asarray(a["truncated"], dtype=bool)
            nv_name = "next_expected_q" if "next_expected_q" in a else "next_values"
            r = np.asarray(a["rewards"])
            nv = np.asarray(a[nv_name])
            fold = r + np.asarray(a["gamma"] * np.where(tr, nv, 0), dtype=r.dtype)
            a["rewards"] = np.where(tr, fold, r).astype(r.dtype)
            a["terminated"], a["truncated"] = te | tr, np.zeros_like(tr)
            if flags == "dones":
                a["terminated"] = te | tr
                names.remove("truncated")
            elif flags == "discounts":
                a["terminated"] = (a["gamma"] * (~(te | tr))).astype(r.dtype)
                names.remove("truncated")
                names.remove("gamma")
        if values_stream:
            v = np.asarray(a["values"])
            a["values"] = np.concatenate([v, np.asarray(a["next_values"])[..., -1:]], axis=-1)
            names.remove("next_values")
        dtype = next((np.asarray(x).dtype for x in a.values()
                      if isinstance(x, np.ndarray) and x.dtype.kind == "f"), np.dtype(np.float64))
        seq_ndim = max((np.ndim(x) for x in a.values() if isinstance(x, np.ndarray)), default=0)

        def conv(name: str, x: Any) -> Any:
            if not isinstance(x, np.ndarray):
                return x
            if float_masks and name == "mask":
                x = x.astype(dtype)
            if time_major and x.ndim >= 1:
                x = np.moveaxis(x, -1, 0)
            if feature_dim:
                x = x[..., None]
            if torch:
                import torch as th
                return th.as_tensor(np.array(x, copy=True))  # ascontiguousarray would turn 0-d into 1-d
            return x

        out = fn(*[conv(n, a[n]) for n in names])
        out = _pick(out, pick)

        def back(y: Any) -> Any:
            y = _numpy(y)
            if feature_dim and y.ndim >= 1 and y.shape[-1] == 1:
                y = y[..., 0]
            if time_major and y.ndim == seq_ndim and y.ndim >= 1:
                y = np.moveaxis(y, 0, -1)
            return y

        if isinstance(out, tuple):
            res = [back(y) for y in out]
            vname = "values" if "values" in ba.arguments else "q_values"
            for i in plus_values:
                res[i] = res[i] + np.asarray(ba.arguments[vname], dtype=res[i].dtype)
            return tuple(res)
        y = back(out)
        if plus_values:
            y = y + np.asarray(ba.arguments["values" if "values" in ba.arguments else "q_values"], dtype=y.dtype)
        return y

    wrapper.__signature__ = sig  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(fn, "__name__", "adapted")
    wrapper.__doc__ = f"{wrapper.__name__} adapted to reference_impls.{tgt.name}"
    if values_stream:
        wrapper._conformance_requires = frozenset({"consistent-next-values"})  # type: ignore[attr-defined]
    return wrapper


def _numpy(y: Any) -> np.ndarray:
    if hasattr(y, "detach") and hasattr(y, "cpu"):
        return np.asarray(y.detach().cpu().numpy())
    return np.asarray(y)


def _pick(out: Any, pick: int | str | Sequence[int | str] | None) -> Any:
    if pick is None:
        return tuple(out) if isinstance(out, list) else out
    if isinstance(pick, int | str):
        return out[pick] if isinstance(pick, int) else getattr(out, pick)
    return tuple(out[p] if isinstance(p, int) else getattr(out, p) for p in pick)


def _named(option: dict[str, Any], doc: str) -> Callable[..., Callable[..., Any]]:
    def make(fn: Callable[..., Any], target: str, **more: Any) -> Callable[..., Any]:
        return adapt(fn, target, **option, **more)

    make.__doc__ = doc
    return make


dones = _named({"flags": "dones"}, "``fn`` takes one terminal flag ``dones`` where the reference takes "
               "``terminated, truncated``; truncations are folded into the reward (see the module docstring).")
discounts = _named({"flags": "discounts"}, "``fn`` takes ``discounts = gamma * (1 - terminal)`` where the "
                   "reference takes ``terminated, truncated`` and no ``gamma`` (rlax).")
values_stream = _named({"values_stream": True}, "``fn`` takes one ``values`` array of length T + 1 instead of "
                       "``values, next_values``.")
time_major = _named({"time_major": True}, "``fn`` takes and returns ``[T, ...]`` arrays.")
float_masks = _named({"float_masks": True}, "``fn`` takes 0/1 float masks.")
torch_tensors = _named({"torch": True}, "``fn`` takes torch tensors.")


def outputs(fn: Callable[..., Any], target: str, *, pick: int | str | Sequence[int | str] | None = None,
            plus_values: Sequence[int] = (), **more: Any) -> Callable[..., Any]:
    """Pick / reorder ``fn``'s outputs (``pick``) and add ``values`` to some of them (``plus_values``)."""
    return adapt(fn, target, pick=pick, plus_values=plus_values, **more)


__all__ = ["adapt", "discounts", "dones", "float_masks", "outputs", "time_major", "torch_tensors", "values_stream"]
