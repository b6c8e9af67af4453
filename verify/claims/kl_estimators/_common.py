"""Helpers shared by several kl-estimators topic modules (fixtures, exact evaluators, constants)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from reference_impls import mdp as M
from verify.claims.ppo_grpo._common import torch_mirrors

FAMILY = "kl-estimators"


KINDS = ("k1", "k2", "k3")


@st.composite
def categorical_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(2, 6))
    zs = [np.array(draw(st.lists(st.floats(-4, 4), min_size=k, max_size=k))) for _ in range(2)]
    return M.softmax(zs[0]), M.softmax(zs[1])


# ------------------------------------------ exact expected gradients (gradient, grpo_k3)


def grad_kl_reverse(pi: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """d KL(pi_z || ref) / dz for softmax logits z (closed form)."""
    kl = float(np.sum(pi * np.log(pi / ref)))
    return pi * (np.log(pi / ref) - kl)


def grad_kl_forward(pi: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """d KL(ref || pi_z) / dz = pi - ref."""
    return pi - ref


def expected_loss_gradients(z: np.ndarray, ref: np.ndarray, z_old: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact E_{x ~ pi_z}[grad_z k(log pi_z(x), log ref(x))] (no gradient through sampling) for
    k1, k2, k3 via autograd of the torch mirror; with ``z_old``, also the importance-corrected
    E_{x ~ pi_old}[grad (pi_z/pi_old) k3]."""
    torch, _, TD = torch_mirrors()
    out: dict[str, np.ndarray] = {}
    pi = M.softmax(z)
    for k in KINDS:
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        lp = torch.log_softmax(zt, -1)
        est = TD.kl_estimator(lp, torch.tensor(np.log(ref)), k)
        (torch.tensor(pi) * est).sum().backward()
        out[k] = zt.grad.numpy().copy()
    if z_old is not None:
        old = M.softmax(z_old)
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        lp = torch.log_softmax(zt, -1)
        w = torch.exp(lp - torch.tensor(np.log(old)))
        est = w * TD.kl_estimator(lp, torch.tensor(np.log(ref)), "k3")
        (torch.tensor(old) * est).sum().backward()
        out["k3 importance-corrected"] = zt.grad.numpy().copy()
    return out
