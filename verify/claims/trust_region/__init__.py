"""Trust-region theory: state drift, the surrogate's error, the CPI/TRPO/CPO bounds,
Pinsker, the KL's second-order (Fisher) model, the KKT natural-gradient step and the TRPO
step itself, with the seed statements that get them wrong.

Numerical policy: every O(alpha^2) gap ``eta(new) - L_old(new)`` is computed by the exact
identity ``gamma rho_old Delta (I - gamma P_new)^{-1} Abar`` with ``Delta`` and ``Abar``
formed from the policy *difference* (never as a float64 difference of two O(1)
returns), or in mpmath at 50 digits on the fixtures.

Every inequality check reports (i) the worst ratio ``gap / bound`` found by a
``hypothesis.target`` search, (ii) the ratio on a near-tight fixture (escape chain; the
3-state TRPO eq. 44 instance; Bernoulli pairs for Pinsker) and (iii) a mutation check:
the constant shrunk by the factor in MUTATION is violated on the fixture.

One module per topic: a theorem, its checks and the seed statements about it side by side; helpers shared by
several topics are in ``_common``. The imports below are the claims' registration order, i.e. their order on
the report page.
"""

# The order below is the registration order, i.e. the report page's order.
# isort: off
from verify.claims.trust_region import drift  # noqa: F401
from verify.claims.trust_region import surrogate  # noqa: F401
from verify.claims.trust_region import cpi  # noqa: F401
from verify.claims.trust_region import trpo_bound  # noqa: F401
from verify.claims.trust_region import cpo  # noqa: F401
from verify.claims.trust_region import pinsker  # noqa: F401
from verify.claims.trust_region import kl_fisher  # noqa: F401
from verify.claims.trust_region import natgrad  # noqa: F401
from verify.claims.trust_region import trpo_step  # noqa: F401
from verify.claims.trust_region import paths  # noqa: F401
# isort: on
