"""Importance sampling: exact unbiasedness, variance scaling, self-normalization, truncation
and the lecture slides' (seed 001) statements about them.

Exact beats sampled: every unbiasedness or variance statement is decided by exact
expectations (trajectory enumeration, rational arithmetic, sympy or mpmath). Monte Carlo
checks only confirm the samplers and the estimators against those exact moments; each
uses a per-test alpha from :mod:`verify.stats`' suite-wide budget, a fixed seed, the
exact null covariance, and a negative control (a deliberately biased estimator) that the
same test must reject.

Notation: the target policy is ``pi`` (S1's pi_theta'), the behaviour policy that draws
the data is ``mu`` (S1's pi_theta, S3's h); ``w = pi / mu``; ``chi2(p||q) = sum p^2/q - 1``.

One module per topic: a theorem, its checks and the seed statements about it side by side; helpers shared by
several topics are in ``_common``. The imports below are the claims' registration order, i.e. their order on
the report page.
"""

# The order below is the registration order, i.e. the report page's order.
# isort: off
from verify.claims.importance_sampling import unbiased  # noqa: F401
from verify.claims.importance_sampling import variance  # noqa: F401
from verify.claims.importance_sampling import sample_mean  # noqa: F401
from verify.claims.importance_sampling import trajectory  # noqa: F401
from verify.claims.importance_sampling import pdis  # noqa: F401
from verify.claims.importance_sampling import snis  # noqa: F401
from verify.claims.importance_sampling import tis  # noqa: F401
from verify.claims.importance_sampling import ess  # noqa: F401
from verify.claims.importance_sampling import sampling_paths  # noqa: F401
from verify.claims.importance_sampling import paths  # noqa: F401
# isort: on
