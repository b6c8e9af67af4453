"""The engine on a synthetic registry: statuses are derived from the evidence that ran."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import strategies as st

from verify import engine, registry
from verify.harness import Violation, check, property_evidence, symbolic_evidence, symbolic_zero
from verify.registry import CheckSkipped, Claim, Context, Evidence, Source, derive_status

x, y = sp.symbols("x y")


@check("symbolic")
def square_symbolic(ctx: Context) -> Evidence:
    return symbolic_evidence((x + y) ** 2 - (x**2 + 2 * x * y + y**2), "(x+y)^2 expands")


@check("property")
def square_property(ctx: Context) -> Evidence:
    def body(ab):
        a, b = ab
        lhs, rhs = (a + b) ** 2, a * a + 2 * a * b + b * b
        if abs(lhs - rhs) > 1e-9 * (1 + abs(lhs)):
            raise Violation("mismatch", a=a, b=b)
        return abs(lhs - rhs)

    return property_evidence(ctx, st.tuples(st.floats(-10, 10), st.floats(-10, 10)), body, summary="numeric")


@check("property")
def false_property(ctx: Context) -> Evidence:
    def body(ab):
        a, b = ab
        if abs((a + b) ** 2 - (a * a + b * b)) > 1e-9:
            raise Violation("(a+b)^2 != a^2 + b^2", a=a, b=b)

    return property_evidence(ctx, st.tuples(st.integers(-5, 5), st.integers(-5, 5)), body, summary="freshman's dream")


@check("symbolic")
def undecidable_symbolic(ctx: Context) -> Evidence:
    return symbolic_evidence(sp.exp(x) ** y - sp.exp(x * y), "exp(x)^y = exp(xy) for complex x, y")


@check("exact")
def raising_check(ctx: Context) -> Evidence:
    raise RuntimeError("boom")


@check("exact")
def gpu_only(ctx: Context) -> Evidence:
    raise CheckSkipped("needs a CUDA device")


def _c(cid, checks, expected, uses=()):
    return Claim(id=cid, title=cid, statement="s", source=Source("synthetic"), family="engine", expected=expected,
                 checks=tuple(checks), uses=tuple(uses))


@pytest.fixture
def synthetic(monkeypatch):
    registry.load_all()
    claims = [
        _c("T-TRUE", [square_symbolic, square_property], "verified"),
        _c("T-FALSE", [false_property, square_symbolic], "refuted"),
        _c("T-UNDECIDED", [undecidable_symbolic, square_property], "undecided"),
        _c("T-ERROR", [square_property, raising_check], "error"),
        _c("T-SKIP", [gpu_only], "skipped"),
        _c("T-ONEKIND", [square_property], "undecided"),
        _c("T-USES-BAD", [square_symbolic, square_property], "verified", uses=("T-UNDECIDED",)),
        _c("T-USES-GOOD", [square_symbolic, square_property], "verified", uses=("T-TRUE",)),
    ]
    for c in claims:
        monkeypatch.setitem(registry.REGISTRY, c.id, c)
    return [c.id for c in claims]


def test_statuses_are_derived(synthetic):
    results = {r.id: r for r in engine.run_claims(synthetic)}
    for cid in synthetic:
        assert results[cid].status == results[cid].expected, (cid, results[cid].evidence)


def test_refuted_claim_records_counterexample(synthetic):
    (res,) = engine.run_claims(["T-FALSE"])
    bad = [e for e in res.evidence if e.passed is False]
    assert len(bad) == 1
    ce = bad[0].counterexample
    a, b = ce["a"], ce["b"]
    assert (a + b) ** 2 != a * a + b * b  # the recorded counterexample really is one
    assert bad[0].figures["examples_run"] >= 1


def test_undecided_is_not_a_pass(synthetic):
    (res,) = engine.run_claims(["T-UNDECIDED"])
    sym = next(e for e in res.evidence if e.kind == "symbolic")
    assert sym.passed is None
    assert res.status == "undecided"


def test_error_evidence_carries_message(synthetic):
    (res,) = engine.run_claims(["T-ERROR"])
    err = next(e for e in res.evidence if e.error)
    assert "boom" in err.error and err.kind == "exact"


def test_fully_verified_needs_the_whole_chain(synthetic):
    results = {r.id: r for r in engine.run_claims(["T-TRUE", "T-UNDECIDED", "T-USES-BAD", "T-USES-GOOD"])}
    assert results["T-USES-BAD"].status == "verified"
    assert not results["T-USES-BAD"].fully_verified
    assert results["T-USES-BAD"].blocked_by == ["T-UNDECIDED"]
    assert results["T-USES-GOOD"].fully_verified
    # a dependency that was not run counts as not verified
    (alone,) = engine.run_claims(["T-USES-GOOD"])
    assert not alone.fully_verified and alone.blocked_by == ["T-TRUE"]


def test_same_seed_same_evidence(synthetic):
    a = engine.run_claims(["T-TRUE", "T-FALSE"], seed=3)
    b = engine.run_claims(["T-TRUE", "T-FALSE"], seed=3)
    assert [[e.to_json() for e in r.evidence] for r in a] == [[e.to_json() for e in r.evidence] for r in b]


def test_unknown_id_is_rejected():
    with pytest.raises(engine.UnknownClaimError, match="NO-SUCH-ID"):
        engine.run_claims(["NO-SUCH-ID"])


def test_bad_profile_and_device():
    with pytest.raises(ValueError, match="profile"):
        engine.run_claims(["PDL"], profile="nope")
    with pytest.raises(ValueError, match="device"):
        engine.run_claims(["PDL"], device="tpu")


@pytest.mark.parametrize(
    ("passed", "kinds", "status"),
    [
        ([True, True], ["exact", "symbolic"], "verified"),
        ([True, True], ["exact", "exact"], "undecided"),
        ([True, False], ["exact", "symbolic"], "refuted"),
        ([True, None], ["exact", "symbolic"], "undecided"),
        ([True, None, True], ["exact", "symbolic", "property"], "verified"),
    ],
)
def test_derive_status_table(passed, kinds, status):
    ev = [Evidence(k, p, "") for p, k in zip(passed, kinds, strict=True)]
    assert derive_status(ev, 2) == status


def test_derive_status_error_and_skip():
    assert derive_status([Evidence("exact", None, "", error="x"), Evidence("exact", True, "")], 1) == "error"
    assert derive_status([Evidence("exact", None, "", skipped=True)], 1) == "skipped"
    assert derive_status([Evidence("exact", None, "", skipped=True), Evidence("exact", True, "")], 1) == "verified"


def test_evidence_and_claim_validation():
    with pytest.raises(ValueError, match="kind"):
        Evidence("vibes", True, "")
    with pytest.raises(ValueError, match="expected"):
        _c("X", [square_symbolic], "probably")
    with pytest.raises(ValueError, match="source"):
        Claim(id="S", title="t", statement="s", source=Source("seed"), family="engine", expected="refuted",
              checks=(square_symbolic,), kind="seed-statement")


def test_registry_rejects_duplicates_and_cycles():
    reg = {"A": _c("A", [square_symbolic], "verified", uses=("B",)),
           "B": _c("B", [square_symbolic], "verified", uses=("A",))}
    with pytest.raises(ValueError, match="cycle"):
        registry.validate_registry(reg)
    with pytest.raises(ValueError, match="unknown"):
        registry.validate_registry({"A": _c("A", [square_symbolic], "verified", uses=("Z",))})
    registry.load_all()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(_c("PDL", [square_symbolic], "verified"))


def test_symbolic_zero_is_three_valued():
    assert symbolic_zero(sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1) is True
    assert symbolic_zero(x**2 + 1) is False
    assert symbolic_zero(sp.sin(x) - sp.cos(x)) is False
    assert symbolic_zero(sp.exp(x) ** y - sp.exp(x * y)) is None


def test_context_streams_are_reproducible():
    prof = registry.PROFILES["ci"]
    a = Context("A", "c", prof, 0).rng().random(3)
    b = Context("A", "c", prof, 0).rng().random(3)
    c = Context("A", "d", prof, 0).rng().random(3)
    d = Context("A", "c", prof, 1).rng().random(3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_public_run_claims_contract():
    import verify

    res = verify.run_claims(["PDL"], profile="debug", seed=0)
    assert [r.id for r in res] == ["PDL"]
    assert res[0].status == res[0].expected == "verified"


def test_property_evidence_does_not_depend_on_imported_modules(tmp_path, monkeypatch):
    """Hypothesis mixes constants from imported local modules into generation; the harness must
    not, or a claim's evidence would depend on which claims ran earlier in the process."""
    prof = registry.PROFILES["ci"]

    def examples() -> list[float]:
        seen: list[float] = []

        def body(v: float) -> None:
            seen.append(v)

        property_evidence(Context("X", "c", prof, 0), st.floats(-1e6, 1e6), body, summary="s", max_examples=200)
        return seen

    before = examples()
    mod = tmp_path / "pgv_constants_probe.py"
    mod.write_text("VALUES = [" + ", ".join(f"{k}.{k}{k}{k}7" for k in range(1, 60)) + "]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("pgv_constants_probe")
    after = examples()
    assert before == after
