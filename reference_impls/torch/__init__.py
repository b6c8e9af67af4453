"""Torch mirror of :mod:`reference_impls` (optional dependency: ``pip install pg-verify[torch]``).

``reference_impls.torch.<module>.<name>`` has the semantics of
``reference_impls.<module>.<name>``, keeps the input's dtype and device, and runs on
any device. Flags may be given as bool tensors.
"""

try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "reference_impls.torch needs PyTorch; install it with `pip install pg-verify[torch]`"
    ) from exc
