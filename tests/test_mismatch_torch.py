"""reference_impls.torch.mismatch mirrors reference_impls.mismatch (float64 parity, dtype and device kept)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reference_impls import mismatch as MM  # noqa: E402
from reference_impls.torch import mismatch as TMM  # noqa: E402


def _inputs(seed: int = 0, shape: tuple[int, ...] = (4, 7)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lp = np.log(rng.uniform(0.01, 1.0, size=shape))
    lq = np.log(rng.uniform(0.01, 1.0, size=shape))
    mask = (rng.uniform(size=shape) < 0.7).astype(np.int64)
    mask[..., 0] = 1
    return lp, lq, mask


CASES = [
    ("token_log_ratios", {}),
    ("token_is_weights", {}),
    ("token_is_weights", {"cap": 1.7}),
    ("sequence_log_is_weights", {}),
    ("sequence_is_weights", {}),
    ("sequence_is_weights", {"cap": 0.8}),
    ("sequence_mask_weights", {"low": 0.05, "high": 3.0}),
    ("gspo_ratio", {}),
]


@pytest.mark.parametrize(("name", "kw"), CASES)
@pytest.mark.parametrize("shape", [(7,), (4, 7), (2, 3, 5)])
def test_torch_matches_numpy_float64(name: str, kw: dict, shape: tuple[int, ...], device: str) -> None:
    lp, lq, m = _inputs(zlib.crc32(f"{name}{shape}".encode()), shape)  # stable across processes
    ref = getattr(MM, name)(lp, lq, m, **kw)
    got = getattr(TMM, name)(torch.tensor(lp, device=device), torch.tensor(lq, device=device),
                             torch.tensor(m, device=device).bool(), **kw)
    assert got.dtype == torch.float64
    assert got.device.type == torch.device(device).type
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-13, atol=0)


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_float32_stays_float32(name: str, kw: dict, device: str) -> None:
    lp, lq, m = _inputs(1)
    got = getattr(TMM, name)(torch.tensor(lp, dtype=torch.float32, device=device),
                             torch.tensor(lq, dtype=torch.float32, device=device),
                             torch.tensor(m, device=device), **kw)
    assert got.dtype == torch.float32
    ref = getattr(MM, name)(lp.astype(np.float32), lq.astype(np.float32), m, **kw)
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=2e-5, atol=1e-6)


def test_float_mask_accepted_and_log_space(device: str) -> None:
    T = 20000
    lp = torch.full((T,), -0.1, dtype=torch.float64, device=device)
    lq = torch.full((T,), -0.2, dtype=torch.float64, device=device)
    m = torch.ones(T, dtype=torch.float64, device=device)
    assert float(TMM.sequence_is_weights(lp, lq, m, cap=5.0)) == pytest.approx(5.0, rel=1e-14)
    assert float(TMM.sequence_mask_weights(lp, lq, m, 0.0, 10.0)) == 0.0


def test_policy_token_mask_mirror(device: str) -> None:
    src = np.array([[1, 2, 1, 0], [2, 1, 1, 1]])
    got = TMM.policy_token_mask(torch.tensor(src, device=device), dtype=torch.float32)
    assert got.dtype == torch.float32
    np.testing.assert_array_equal(got.cpu().numpy(), MM.policy_token_mask(src))


def test_torch_validation(device: str) -> None:
    lp, lq, m = (torch.tensor(x, device=device) for x in _inputs(2))
    with pytest.raises(ValueError, match=r"^sampler_log_probs"):
        TMM.token_is_weights(lp, lq[:, :3], m)
    with pytest.raises(ValueError, match=r"^sampler_log_probs: expected dtype"):
        TMM.token_is_weights(lp, lq.float(), m)
    with pytest.raises(ValueError, match=r"^mask: expected only 0/1"):
        TMM.token_is_weights(lp, lq, m * 2)
    with pytest.raises(ValueError, match=r"^mask: expected shape"):
        TMM.token_is_weights(lp, lq, m[:, :3])
    zero_row = m.clone()
    zero_row[1] = 0
    with pytest.raises(ValueError, match=r"^mask: .*all-zero row at index \(1,\)"):
        TMM.sequence_is_weights(lp, lq, zero_row)
    with pytest.raises(ValueError, match=r"^cap"):
        TMM.sequence_is_weights(lp, lq, m, cap=0.0)
    with pytest.raises(ValueError, match=r"^cap"):
        TMM.token_is_weights(lp, lq, m, cap=-2.0)
    with pytest.raises(ValueError, match=r"^low: expected low <= high"):
        TMM.sequence_mask_weights(lp, lq, m, 2.0, 1.0)
    with pytest.raises(ValueError, match=r"^learner_log_probs: expected a torch.Tensor"):
        TMM.token_is_weights(np.zeros(3), lq, m)
    with pytest.raises(ValueError, match=r"^token_source"):
        TMM.policy_token_mask(torch.tensor([0.0, 1.0]))
