"""Policy-gradient foundations: the performance-difference lemma and the surrogate's
first-order agreement with J.

One module per topic (a theorem, its checks and the seed statements about it); the imports below fix the order
in which the claims register, i.e. their order on the report page.

One module per topic: a theorem, its checks and the seed statements about it side by side; helpers shared by
several topics are in ``_common``. The imports below are the claims' registration order, i.e. their order on
the report page.
"""

# The order below is the registration order, i.e. the report page's order.
# isort: off
from verify.claims.policy_gradient import pg_theorem  # noqa: F401
from verify.claims.policy_gradient import discount  # noqa: F401
from verify.claims.policy_gradient import baseline  # noqa: F401
from verify.claims.policy_gradient import pdl  # noqa: F401
from verify.claims.policy_gradient import surrogate_gradient  # noqa: F401
from verify.claims.policy_gradient import paths  # noqa: F401
# isort: on
