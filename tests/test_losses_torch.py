"""Torch mirrors of losses and divergences: equal to numpy in float64, dtype and device kept,
autograd gradients equal the exact expected gradients used by the claims."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reference_impls import divergences as D  # noqa: E402
from reference_impls import losses as L  # noqa: E402
from reference_impls import mdp as M  # noqa: E402
from reference_impls.torch import divergences as TD  # noqa: E402
from reference_impls.torch import losses as TL  # noqa: E402

RNG = np.random.default_rng(1234)
LP = RNG.normal(scale=0.3, size=(3, 5)) - 1.0
OLD = RNG.normal(scale=0.3, size=(3, 5)) - 1.0
ADV = RNG.normal(size=(3, 5))
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
P = M.softmax(RNG.normal(size=(3, 4)))
Q = M.softmax(RNG.normal(size=(3, 4)))


def _t(x: np.ndarray, device: str, dtype: object = None) -> object:
    return torch.tensor(x, dtype=dtype or torch.float64, device=device)


def _cases(device: str, dtype: object = None) -> list[tuple[str, object, object]]:
    t = lambda x: _t(x, device, dtype)  # noqa: E731
    m = torch.tensor(MASK, device=device)
    return [
        ("ppo", lambda: TL.ppo_clip_objective(t(LP), t(OLD), t(ADV), (0.2, 0.28)),
         lambda: L.ppo_clip_objective(LP, OLD, ADV, (0.2, 0.28))),
        ("ppo dual", lambda: TL.ppo_clip_objective(t(LP), t(OLD), t(ADV), 0.1, dual_clip=1.05),
         lambda: L.ppo_clip_objective(LP, OLD, ADV, 0.1, dual_clip=1.05)),
        ("klpen", lambda: TL.kl_penalized_objective(t(LP), t(OLD), t(ADV), t(np.abs(ADV)), 0.3),
         lambda: L.kl_penalized_objective(LP, OLD, ADV, np.abs(ADV), 0.3)),
        ("sapo", lambda: TL.sapo_objective(t(LP), t(OLD), t(ADV)), lambda: L.sapo_objective(LP, OLD, ADV)),
        ("grpo sample", lambda: TL.grpo_advantages(t(ADV)), lambda: L.grpo_advantages(ADV)),
        ("grpo population", lambda: TL.grpo_advantages(t(ADV), std="population", eps=1e-9),
         lambda: L.grpo_advantages(ADV, std="population", eps=1e-9)),
        ("rloo", lambda: TL.rloo_advantages(t(ADV)), lambda: L.rloo_advantages(ADV)),
        ("gspo ratio", lambda: TL.gspo_sequence_ratio(t(LP), t(OLD), m), lambda: L.gspo_sequence_ratio(LP, OLD, MASK)),
        ("gspo", lambda: TL.gspo_objective(t(LP), t(OLD), t(ADV[:, 0]), m, 0.2),
         lambda: L.gspo_objective(LP, OLD, ADV[:, 0], MASK, 0.2)),
        *[(f"aggregate {mode}", lambda mode=mode: TL.aggregate(t(ADV), m, mode),
           lambda mode=mode: L.aggregate(ADV, MASK, mode)) for mode in L.AGGREGATION_MODES],
        *[(f"clip fraction {d}", lambda d=d: TL.clip_fraction(t(LP), t(OLD), t(ADV), 0.2, mask=m, definition=d),
           lambda d=d: L.clip_fraction(LP, OLD, ADV, 0.2, mask=MASK, definition=d))
          for d in L.CLIP_FRACTION_DEFINITIONS],
        ("kl", lambda: TD.kl(t(P), t(Q)), lambda: D.kl(P, Q)),
        ("tv", lambda: TD.tv(t(P), t(Q)), lambda: D.tv(P, Q)),
        ("l1", lambda: TD.l1(t(P), t(Q)), lambda: D.l1(P, Q)),
        ("chi2", lambda: TD.chi2(t(P), t(Q)), lambda: D.chi2(P, Q)),
        *[(f"estimator {k}", lambda k=k: TD.kl_estimator(t(LP), t(OLD), k), lambda k=k: D.kl_estimator(LP, OLD, k))
          for k in ("k1", "k2", "k3")],
    ]


@pytest.mark.parametrize("index", range(len(_cases("cpu"))))
def test_torch_equals_numpy_float64_and_keeps_device(index: int, device: str) -> None:
    name, tfn, nfn = _cases(device)[index]
    out = tfn()
    assert out.dtype == torch.float64 and out.device.type == device, name
    # torch.exp/log and numpy's may differ in the last ulp (8 ulp relative); centred group
    # advantages near 0 carry the rounding of the O(1) mean, hence the 1e-15 absolute floor
    np.testing.assert_allclose(out.detach().cpu().numpy(), nfn(), rtol=2e-15, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("index", range(len(_cases("cpu"))))
def test_float32_stays_float32(index: int, device: str) -> None:
    name, tfn, nfn = _cases(device, torch.float32)[index]
    out = tfn()
    assert out.dtype == torch.float32 and out.device.type == device, name
    np.testing.assert_allclose(out.detach().cpu().numpy(), nfn(), rtol=2e-5, atol=1e-6, err_msg=name)


def test_kl_loss_gradients_equal_exact_kl_gradients(device: str) -> None:
    # E_{x~pi}[grad k2] = grad KL(pi||ref) = pi (log(pi/ref) - KL); E[grad k3] = pi - ref; E[grad k1] = 0
    z, ref = RNG.normal(size=6), M.softmax(RNG.normal(size=6))
    pi = M.softmax(z)
    want = {"k1": np.zeros(6), "k2": pi * (np.log(pi / ref) - float(D.kl(pi, ref))), "k3": pi - ref}
    for k, w in want.items():
        zt = torch.tensor(z, dtype=torch.float64, device=device, requires_grad=True)
        lp = torch.log_softmax(zt, -1)
        est = TD.kl_estimator(lp, torch.tensor(np.log(ref), device=device), k)
        (torch.tensor(pi, device=device) * est).sum().backward()
        np.testing.assert_allclose(zt.grad.cpu().numpy(), w, atol=1e-15, err_msg=k)


def test_ppo_gradient_case_formula_and_ties(device: str) -> None:
    # gradient w.r.t. log pi: A r unless strictly clipped; at r == 1.25 == 1 + eps exactly: A r
    x = 0.22314355131420976  # float64 with exp(x) == 1.25 exactly
    assert float(np.exp(x)) == 1.25
    r = np.array([1.5, 0.5, 1.1, 0.7, np.exp(x)])
    a = np.array([1.0, -1.0, 2.0, 1.0, 1.0])
    lp = torch.tensor([*np.log(r[:4]).tolist(), x], dtype=torch.float64, device=device, requires_grad=True)
    TL.ppo_clip_objective(lp, torch.zeros(5, dtype=torch.float64, device=device),
                          torch.tensor(a, device=device), 0.25).sum().backward()
    np.testing.assert_allclose(lp.grad.cpu().numpy(), [0.0, 0.0, 2.2, 0.7, 1.25], rtol=1e-15)


def test_dual_clip_never_touches_positive_advantages(device: str) -> None:
    lp = torch.tensor([np.log(10.0)], dtype=torch.float64, device=device)
    z = torch.zeros(1, dtype=torch.float64, device=device)
    a = torch.ones(1, dtype=torch.float64, device=device)
    assert float(TL.ppo_clip_objective(lp, z, a, 0.2, dual_clip=3.0)[0]) == pytest.approx(1.2, rel=1e-15)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: TL.ppo_clip_objective(torch.zeros(3), torch.zeros(2), torch.zeros(3), 0.2), "old_log_probs"),
    (lambda: TL.ppo_clip_objective(torch.zeros(3), torch.zeros(3), torch.zeros(3), 0.2, dual_clip=1.0), "dual_clip"),
    (lambda: TL.ppo_clip_objective(torch.zeros(3), torch.zeros(3), torch.zeros(3), 1.2), "clip_eps"),
    (lambda: TL.ppo_clip_objective(np.zeros(3), torch.zeros(3), torch.zeros(3), 0.2), "log_probs"),
    (lambda: TL.aggregate(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), "sum"), "mode"),
    (lambda: TL.aggregate(torch.zeros(2, 3), torch.tensor([[1, 0, 0], [0, 0, 0]]), "token-mean"), "mask"),
    (lambda: TL.clip_fraction(torch.zeros(3), torch.zeros(3), torch.zeros(3), 0.2, definition="x"), "definition"),
    (lambda: TL.grpo_advantages(torch.zeros(3), std="ddof3"), "std"),
    (lambda: TD.kl_estimator(torch.zeros(3), torch.zeros(3), "k5"), "kind"),
    (lambda: TD.kl(torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5])), "p"),
])
def test_torch_bad_input_names_the_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()
