"""Value targets: GAE identities, episode-boundary invariance, V-trace (definition, on-policy
reduction, fixed point, contraction), Retrace, and the lecture slides' IMPALA statements.

Checks call the public functions through ``R.<name>`` so that a fault planted in
:mod:`reference_impls.returns` turns a claim red (tests/test_value_target_mutations.py).
Expected operators are built here in exact matrix form:
``R V = V + (I - gamma P_c)^{-1} deltabar_V`` for V-trace and
``R Q = Q + (I - gamma P_c)^{-1} (r + gamma P_pi Q - Q)`` over state-action pairs for Retrace.

One module per topic: a theorem, its checks and the seed statements about it side by side; helpers shared by
several topics are in ``_common``. The imports below are the claims' registration order, i.e. their order on
the report page.
"""

# The order below is the registration order, i.e. the report page's order.
# isort: off
from verify.claims.value_targets import gae  # noqa: F401
from verify.claims.value_targets import split_invariance  # noqa: F401
from verify.claims.value_targets import vtrace_def  # noqa: F401
from verify.claims.value_targets import vtrace_onpolicy  # noqa: F401
from verify.claims.value_targets import vtrace_fixed_point  # noqa: F401
from verify.claims.value_targets import vtrace_contraction  # noqa: F401
from verify.claims.value_targets import retrace  # noqa: F401
from verify.claims.value_targets import paths  # noqa: F401
# isort: on
