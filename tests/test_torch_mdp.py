"""Batched exact evaluation in torch vs the numpy reference; dtype and device kept."""

from __future__ import annotations

import numpy as np
import pytest

from reference_impls import gradients as G
from reference_impls import mdp as M

torch = pytest.importorskip("torch")
from reference_impls.torch import mdp as TM  # noqa: E402


def batch(n=6, S=4, A=3, seed=0):
    rng = np.random.default_rng(seed)
    mdps = [M.random_mdp(rng, S, A, float(g)) for g in rng.choice([0.0, 0.5, 0.9, 0.99], size=n)]
    pis = [M.softmax(rng.normal(size=(S, A))) for _ in range(n)]
    return mdps, pis


def stack(mdps, pis, dtype, device):
    t = lambda xs: torch.tensor(np.stack(xs), dtype=dtype, device=device)  # noqa: E731
    return (t([m.transitions for m in mdps]), t([m.rewards for m in mdps]), t([m.initial for m in mdps]),
            torch.tensor([m.gamma for m in mdps], dtype=dtype, device=device), t(pis))


def test_batched_matches_numpy_float64(device):
    mdps, pis = batch()
    P, R, mu, g, pi = stack(mdps, pis, torch.float64, device)
    V = TM.state_values(P, R, mu, g, pi)
    Q = TM.action_values(P, R, mu, g, pi)
    A = TM.advantages(P, R, mu, g, pi)
    J = TM.expected_return(P, R, mu, g, pi)
    d = TM.occupancy(P, R, mu, g, pi)
    rho = TM.visitation(P, R, mu, g, pi)
    for out in (V, Q, A, J, d, rho):
        assert out.dtype == torch.float64 and out.device.type == device
    for b, (m, p) in enumerate(zip(mdps, pis, strict=True)):
        s = max(1.0, 1 / (1 - m.gamma))
        np.testing.assert_allclose(V[b].cpu().numpy(), M.state_values(m, p), atol=1e-12 * s)
        np.testing.assert_allclose(Q[b].cpu().numpy(), M.action_values(m, p), atol=1e-12 * s)
        np.testing.assert_allclose(A[b].cpu().numpy(), M.advantages(m, p), atol=1e-12 * s)
        assert J[b].item() == pytest.approx(M.expected_return(m, p), abs=1e-12 * s)
        np.testing.assert_allclose(d[b].cpu().numpy(), M.occupancy(m, p), atol=1e-12)
        np.testing.assert_allclose(rho[b].cpu().numpy(), M.visitation(m, p), atol=1e-12 * s)


def test_float32_stays_float32(device):
    mdps, pis = batch(n=3)
    P, R, mu, g, pi = stack(mdps, pis, torch.float32, device)
    J = TM.expected_return(P, R, mu, g, pi)
    assert J.dtype == torch.float32 and J.device.type == device
    ref = np.array([M.expected_return(m, p) for m, p in zip(mdps, pis, strict=True)])
    # float32 solve of (I - 0.99 P) has condition number ~ 1/(1-gamma): allow 1e-5 relative to 1/(1-gamma)
    np.testing.assert_allclose(J.cpu().numpy(), ref, atol=1e-4 * 100)


def test_unbatched_inputs(device):
    mdps, pis = batch(n=1)
    m, p = mdps[0], pis[0]
    t = lambda x: torch.tensor(x, dtype=torch.float64, device=device)  # noqa: E731
    J = TM.expected_return(t(m.transitions), t(m.rewards), t(m.initial), m.gamma, t(p))
    assert J.ndim == 0
    assert J.item() == pytest.approx(M.expected_return(m, p), abs=1e-12 / (1 - m.gamma))


def test_autograd_equals_closed_form_policy_gradient(device):
    mdps, _ = batch(n=4, seed=1)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 4, 3))
    P, R, mu, g, _ = stack(mdps, [np.full((4, 3), 1 / 3)] * 4, torch.float64, device)
    zt = torch.tensor(z, dtype=torch.float64, device=device, requires_grad=True)
    J = TM.expected_return(P, R, mu, g, torch.softmax(zt, -1))
    (grad,) = torch.autograd.grad(J.sum(), zt)
    closed = TM.policy_gradient(P, R, mu, g, zt.detach())
    torch.testing.assert_close(grad, closed, rtol=0, atol=1e-10)
    for b, m in enumerate(mdps):
        np.testing.assert_allclose(grad[b].cpu().numpy(), G.policy_gradient(m, z[b]), atol=1e-10)


def test_torch_validation():
    mdps, pis = batch(n=2)
    P, R, mu, g, pi = stack(mdps, pis, torch.float64, "cpu")
    with pytest.raises(ValueError, match="transitions"):
        TM.state_values(P * 0.5, R, mu, g, pi)
    with pytest.raises(ValueError, match="rewards"):
        TM.state_values(P, R[:, :2], mu, g, pi)
    with pytest.raises(ValueError, match="initial"):
        TM.state_values(P, R, mu * 2, g, pi)
    with pytest.raises(ValueError, match="gamma"):
        TM.state_values(P, R, mu, 1.0, pi)
    with pytest.raises(ValueError, match="policy"):
        TM.state_values(P, R, mu, g, pi[:, :, :2])
    with pytest.raises(ValueError, match="policy"):
        TM.state_values(P, R, mu, g, pi.float())
    with pytest.raises(ValueError, match="transitions"):
        TM.state_values(P.numpy(), R, mu, g, pi)
    with pytest.raises(ValueError, match="rewards"):
        TM.state_values(P, R.clone().fill_(float("nan")), mu, g, pi)
