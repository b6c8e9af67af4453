"""The bug-class catalogue (verify/mutants): size, ids, signatures, and planting that restores."""

from __future__ import annotations

import inspect
import sys
import types

import numpy as np
import pytest

from reference_impls import returns as R
from verify.mutants import CATALOGUE, mutants_for, plant
from verify.mutants._core import resolve

NAMED_IN_ISSUE = ("gae:bootstrap-through-terminated", "gae:truncation-as-termination", "vtrace:trace-off-by-one",
                  "vtrace:cbar-as-rhobar", "kl_estimator:k3-inverted-ratio",
                  "ppo_clip_objective:dual-clip-positive-advantages", "sequence_is_weights:mask-ignored")


def test_catalogue_size_and_named_bugs() -> None:
    functions = {m.target for m in CATALOGUE.values() if "[" not in m.target}
    assert len(CATALOGUE) >= 40
    assert len(functions) >= 25
    assert sum(m.id.startswith("torch.") for m in CATALOGUE.values()) >= 8
    for i in NAMED_IN_ISSUE:
        assert i in CATALOGUE, i


@pytest.mark.parametrize("mid", [m for m in CATALOGUE if "[" not in CATALOGUE[m].target])
def test_function_mutants_have_the_reference_signature(mid: str) -> None:
    m = CATALOGUE[mid]
    mod, attr = resolve(m.target)
    ref = getattr(mod, attr)
    assert m.id.split(":")[0].removeprefix("torch.") == attr
    if m.id.startswith("torch."):
        assert m.target.startswith("reference_impls.torch.")
    want = list(inspect.signature(ref).parameters)
    if hasattr(ref, "py_func"):  # a numba dispatcher
        want = list(inspect.signature(ref.py_func).parameters)
    assert list(inspect.signature(m.fn).parameters) == want
    assert m.description and "\n" not in m.description


def test_mutants_for_and_family_names() -> None:
    from verify.registry import FAMILY_ORDER

    gae = mutants_for("reference_impls.returns.gae")
    assert "gae:truncation-as-termination" in [m.id for m in gae]
    assert all(m.target == "reference_impls.returns.gae" for m in gae)
    assert {m.family for m in CATALOGUE.values()} <= set(FAMILY_ORDER)


def test_plant_patches_every_binding_and_restores() -> None:
    """A module that did `from reference_impls.returns import gae` sees the mutant too; all is restored."""
    fake = types.ModuleType("_pgv_fake_user_module")
    fake.my_gae = R.gae  # type: ignore[attr-defined]
    sys.modules[fake.__name__] = fake
    original = R.gae
    try:
        with plant("gae:truncation-as-termination") as m:
            assert R.gae is m.fn and fake.my_gae is m.fn  # type: ignore[attr-defined]
            r = np.array([1.0, 1.0])
            te, tr = np.array([False, False]), np.array([True, False])
            # the truncation at t = 0 no longer bootstraps next_values[0] = 10
            assert R.gae(r, np.zeros(2), np.array([10.0, 0.0]), te, tr, 0.5, 1.0)[0] == 1.0
        assert R.gae is original and fake.my_gae is original  # type: ignore[attr-defined]
    finally:
        del sys.modules[fake.__name__]


def test_plant_bound_constant_restores() -> None:
    from verify.claims import trust_region as TRC

    before = dict(TRC.BOUND_SCALE)
    mid = next(i for i in CATALOGUE if i.startswith("bound.PINSKER"))
    with plant(mid):
        assert TRC.BOUND_SCALE["PINSKER"] == pytest.approx(0.99)
    assert before == TRC.BOUND_SCALE


def test_plant_restores_after_an_exception() -> None:
    original = R.vtrace
    with pytest.raises(RuntimeError), plant("vtrace:cbar-as-rhobar"):
        raise RuntimeError("inside")
    assert R.vtrace is original


@pytest.mark.parametrize("mid", ["gae:bootstrap-through-terminated", "vtrace:trace-off-by-one",
                                 "vtrace:cbar-as-rhobar", "retrace:trace-current-step"])
def test_returns_mutants_differ_from_the_reference(mid: str) -> None:
    """On inputs with an episode end of each kind and ratios beyond the levels, each mutant differs."""
    rng = np.random.default_rng(0)
    T = 8
    r, v, nv = rng.normal(size=(3, T))
    lr = rng.normal(size=T)
    te = np.zeros(T, dtype=bool)
    tr = np.zeros(T, dtype=bool)
    te[2], tr[5] = True, True
    m = CATALOGUE[mid]
    ref = getattr(R, m.target.rsplit(".", 1)[1])
    args = (r, v, nv, te, tr, 0.9, 0.8) if "gae" in mid else (r, v, nv, lr, te, tr, 0.9, 0.8, 1.3, 0.7)[
        : 10 if mid.startswith("vtrace") else 9]
    got, want = m.fn(*args), ref(*args)
    got_a = np.concatenate([np.ravel(x) for x in (got if isinstance(got, tuple) else (got,))])
    want_a = np.concatenate([np.ravel(x) for x in (want if isinstance(want, tuple) else (want,))])
    assert np.max(np.abs(got_a - want_a)) > 1e-6
