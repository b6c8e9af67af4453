"""The k1/k2/k3 sample estimators of KL: their values, their
gradients when used as a loss, and GRPO's description of k3.

Convention: ``kl_estimator(log_p, log_q, kind)`` estimates KL(p || q) from x ~ p with
log r = log q(x) - log p(x). As an RL loss: p = pi_theta (sampling policy), q = pi_ref.
Every expectation is exact (enumeration over a categorical or a token tree, or mpmath
quadrature for the Gaussian closed forms).

One module per topic: a theorem, its checks and the seed statements about it side by side; helpers shared by
several topics are in ``_common``. The imports below are the claims' registration order, i.e. their order on
the report page.
"""

# The order below is the registration order, i.e. the report page's order.
# isort: off
from verify.claims.kl_estimators import value  # noqa: F401
from verify.claims.kl_estimators import gradient  # noqa: F401
from verify.claims.kl_estimators import grpo_k3  # noqa: F401
from verify.claims.kl_estimators import paths  # noqa: F401
# isort: on
