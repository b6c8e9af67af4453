"""Ground-truth reference implementations for policy-gradient RL (numpy, float64).

Import the modules you need, e.g. ``from reference_impls import mdp, gradients``.
The torch mirror lives in :mod:`reference_impls.torch` (optional dependency).
Conventions are stated in the project README and in each module docstring.
"""

__version__ = "0.1.0"
