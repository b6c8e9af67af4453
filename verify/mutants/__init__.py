"""The catalogue of bug classes: named, documented variants of the reference functions.

Each :class:`Mutant` implements one bug that people actually write (PEERS.md collects the peer issues
that show them), as a plain function with the reference function's signature, so that

* ``python -m verify mutate`` plants it (:func:`plant`) in the execution path it belongs to and
  measures which claims turn red (``reports/mutation.md``): the suite's detection power;
* ``verify.conformance`` uses the catalogue as its diagnosis vocabulary: a user's function whose
  outputs match a mutant's is diagnosed with that bug.

Ids are ``<function>:<bug>`` for the numpy reference (``gae:bootstrap-through-terminated``),
``torch.<function>:<bug>`` for the torch mirror, the private function's own name for a path-only fault
(``gae_kernel:...`` numba, ``_td:...`` the numpy fallback, ``gae_seq:...`` the loop ground truth), and
``bound.<NAME>:shrunk-<factor>`` for a bound's constant. Mutants of the numba kernels are registered
only where numba is importable, and those of the torch mirror only where torch is.
"""

from __future__ import annotations

import importlib.util

from verify.mutants import bounds, numpy_functions, returns
from verify.mutants._core import CATALOGUE, Mutant, mutants_for, plant

if importlib.util.find_spec("torch") is not None:
    from verify.mutants import torch_mirrors  # noqa: F401

__all__ = ["CATALOGUE", "Mutant", "mutants_for", "plant"]
del bounds, numpy_functions, returns
