"""reference_impls.torch.returns: equals the numpy reference (float64) on identical inputs, keeps dtype
and device, both scan paths agree, and bad input raises ValueError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reference_impls import returns as R  # noqa: E402
from reference_impls.torch import returns as TR  # noqa: E402

METHODS = ["loop", "scan", "auto"]


def inputs(seed: int, shape: tuple[int, ...], p_end: float = 0.2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.random(shape)
    return {"rewards": rng.normal(size=shape), "values": rng.normal(size=shape),
            "next_values": rng.normal(size=shape), "log_rhos": rng.normal(size=shape),
            "terminated": u < p_end / 2, "truncated": (u >= p_end / 2) & (u < p_end)}


def to_torch(x: dict[str, np.ndarray], device: str, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in x.items():
        t = torch.as_tensor(v, device=device)
        out[k] = t if v.dtype == bool else t.to(dtype)
    return out


def run_all(mod, x, method=None):  # type: ignore[no-untyped-def]
    kw = {} if method is None else {"method": method}
    r, v, nv, lr, te, tr = (x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated", "truncated"))
    vs, pg = mod.vtrace(r, v, nv, lr, te, tr, 0.95, 0.9, 1.3, 0.8, 1.1, **kw)
    vs_inf, _ = mod.vtrace(r, v, nv, lr, te, tr, 1.0, 1.0, float("inf"), float("inf"), float("inf"), **kw)
    return {"discounted_returns": mod.discounted_returns(r, nv, te, tr, 0.97, **kw),
            "gae": mod.gae(r, v, nv, te, tr, 0.97, 0.9, **kw),
            "lambda_returns": mod.lambda_returns(r, v, nv, te, tr, 0.97, 0.5, **kw),
            "vtrace_vs": vs, "vtrace_pg": pg, "vtrace_vs_unclipped": vs_inf,
            "retrace": mod.retrace(r, v, nv, lr, te, tr, 0.9, 0.95, **kw)}


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 17), (2, 3, 40), (4, 257)])
@pytest.mark.parametrize("method", METHODS)
def test_torch_equals_numpy_float64(shape: tuple[int, ...], method: str, device: str) -> None:
    x = inputs(11, shape)
    ref = run_all(R, x)
    got = run_all(TR, to_torch(x, device), method)
    for k, want in ref.items():
        g = got[k]
        assert g.dtype == torch.float64 and g.device.type == torch.device(device).type, k
        np.testing.assert_allclose(g.cpu().numpy(), want, rtol=0, atol=1e-11 * shape[-1], err_msg=k)


@pytest.mark.parametrize("method", METHODS)
def test_float32_stays_float32(method: str, device: str) -> None:
    x = inputs(12, (8, 100))
    ref = run_all(R, x)
    got = run_all(TR, to_torch(x, device, torch.float32), method)
    for k, want in ref.items():
        assert got[k].dtype == torch.float32, k
        # float32 rounding (relative 6e-8 per op) over <= 100 steps: errors ~1e-5 relative; effects here are O(1)
        np.testing.assert_allclose(got[k].cpu().numpy(), want, rtol=1e-5, atol=5e-4, err_msg=k)


def test_scan_paths_agree_long(device: str) -> None:
    x = inputs(13, (3, 1500), p_end=0.01)
    a = run_all(TR, to_torch(x, device), "loop")
    b = run_all(TR, to_torch(x, device), "scan")
    for k in a:
        # relative: unclipped V-trace multiplies ratios over long episodes and reaches ~1e8 here
        assert torch.max(torch.abs(a[k] - b[k]) / (1 + torch.abs(a[k]))).item() < 1e-12, k


def test_reverse_linear_scan_matches_numpy(device: str) -> None:
    rng = np.random.default_rng(14)
    x, a = rng.normal(size=(4, 77)), rng.random((4, 77))
    a[:, -1] = 0
    want = R.reverse_linear_scan(x, a)
    for m in METHODS:
        got = TR.reverse_linear_scan(torch.tensor(x, device=device), torch.tensor(a, device=device), method=m)
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=1e-12)


def test_validation_names_argument(device: str) -> None:
    x = to_torch(inputs(15, (2, 6), p_end=0.0), device)
    r, v, nv, lr, te, tr = (x[k] for k in ("rewards", "values", "next_values", "log_rhos", "terminated", "truncated"))
    with pytest.raises(ValueError, match=r"^next_values: expected shape"):
        TR.gae(r, v, nv[:, :5], te, tr, 0.9, 0.9)
    with pytest.raises(ValueError, match=r"^values: expected dtype"):
        TR.gae(r, v.float(), nv, te, tr, 0.9, 0.9)
    with pytest.raises(ValueError, match=r"^terminated: expected booleans"):
        TR.gae(r, v, nv, te.double() + 0.5, tr, 0.9, 0.9)
    with pytest.raises(ValueError, match=r"^truncated: expected shape"):
        TR.vtrace(r, v, nv, lr, te, tr[:, :2], 0.9)
    both_t, both_u = te.clone(), tr.clone()
    both_t[0, 1] = True
    both_u[0, 1] = True
    with pytest.raises(ValueError, match=r"^truncated: expected at most one"):
        TR.discounted_returns(r, nv, both_t, both_u, 0.9)
    with pytest.raises(ValueError, match=r"^gamma: "):
        TR.gae(r, v, nv, te, tr, 1.5, 0.9)
    with pytest.raises(ValueError, match=r"^lam: "):
        TR.retrace(r, v, nv, lr, te, tr, 0.9, -0.5)
    with pytest.raises(ValueError, match=r"^rho_bar: "):
        TR.vtrace(r, v, nv, lr, te, tr, 0.9, rho_bar=-1.0)
    with pytest.raises(ValueError, match=r"^method: "):
        TR.gae(r, v, nv, te, tr, 0.9, 0.9, method="fast")
    with pytest.raises(ValueError, match=r"^rewards: expected a torch.Tensor"):
        TR.gae(r.cpu().numpy(), v, nv, te, tr, 0.9, 0.9)


@pytest.mark.gpu
def test_cuda_scan_path_keeps_device() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the GPU path is exercised by the `gpu` env (PGV_DEVICE=cuda)")
    x = inputs(16, (64, 512))
    got = run_all(TR, to_torch(x, "cuda", torch.float32))  # auto -> doubling scan on CUDA
    ref = run_all(R, x)
    for k, want in ref.items():
        assert got[k].is_cuda and got[k].dtype == torch.float32
        np.testing.assert_allclose(got[k].cpu().numpy(), want, rtol=1e-5, atol=5e-4, err_msg=k)


def test_cpu_without_autograd_runs_the_compiled_kernels_zero_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU tensors that need no gradient take the compiled kernels (method="auto"), keep their dtype and
    equal the torch implementation; a call that needs autograd, or an explicit method, takes the torch
    path (and its gradient flows)."""
    pytest.importorskip("numba")
    calls: list[str] = []
    for name in ("discounted_returns_kernel", "gae_kernel", "lambda_returns_kernel", "vtrace_kernel",
                 "retrace_kernel"):
        kernel = getattr(TR._NB, name)
        monkeypatch.setattr(TR._NB, name, lambda *a, _k=kernel, _n=name: calls.append(_n) or _k(*a))
    x = inputs(21, (11, 37))
    for dtype in (torch.float32, torch.float64):
        t = to_torch(x, "cpu", dtype)
        calls.clear()
        fast = run_all(TR, t)
        assert len(calls) == 6  # run_all calls vtrace twice
        calls.clear()
        slow = run_all(TR, t, "loop")
        assert not calls
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        for k in fast:
            assert fast[k].dtype == dtype, k
            torch.testing.assert_close(fast[k], slow[k], rtol=tol, atol=tol)
    t = to_torch(x, "cpu")
    v = t["values"].clone().requires_grad_(True)
    calls.clear()
    adv = TR.gae(t["rewards"], v, t["next_values"], t["terminated"], t["truncated"], 0.9, 0.8)
    assert not calls and adv.requires_grad
    adv.sum().backward()
    assert v.grad is not None and bool(torch.isfinite(v.grad).all())
    with torch.no_grad():
        TR.gae(t["rewards"], v, t["next_values"], t["terminated"], t["truncated"], 0.9, 0.8)
    assert calls == ["gae_kernel"]  # no grad mode: nothing to differentiate, the compiled path
