"""Test configuration: hypothesis profiles, the device switch, and a report header."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from verify.strategies import register_profiles

register_profiles()
# tox selects a profile explicitly with --hypothesis-profile (which overrides this);
# plain `pytest` uses HYPOTHESIS_PROFILE or dev. Every profile has deadline=None.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Claim seed: fixed (0) unless PGV_CLAIMS_SEED is set; "random" draws a fresh one, shared with
# xdist workers through the environment and printed in the report header.
_seed = os.environ.get("PGV_CLAIMS_SEED", "0")
if _seed == "random":
    _seed = os.environ.get("PGV_CLAIMS_SEED_RESOLVED") or str(int.from_bytes(os.urandom(4), "little"))
os.environ["PGV_CLAIMS_SEED_RESOLVED"] = str(int(_seed))

#: Device for torch tests: PGV_DEVICE=cuda runs them on the GPU (the `gpu` tox env).
DEVICE = os.environ.get("PGV_DEVICE", "cpu")


def pytest_report_header(config: pytest.Config) -> list[str]:
    import hypothesis
    import mpmath
    import numpy
    import scipy
    import sympy

    parts = [f"numpy {numpy.__version__}", f"scipy {scipy.__version__}", f"sympy {sympy.__version__}",
             f"mpmath {mpmath.__version__}", f"hypothesis {hypothesis.__version__}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()})")
    except ImportError:
        parts.append("torch not installed")
    return ["pg-verify: " + ", ".join(parts),
            f"pg-verify device: {DEVICE}; claim seed: {os.environ['PGV_CLAIMS_SEED_RESOLVED']}"]


@pytest.fixture(scope="session")
def device() -> str:
    """The torch device the tests run on (cpu unless PGV_DEVICE says otherwise)."""
    if DEVICE == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("PGV_DEVICE=cuda but no CUDA device is present")
    return DEVICE
