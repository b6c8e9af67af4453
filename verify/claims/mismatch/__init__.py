"""The learner–sampler mismatch and "Pertinacity and the Puke"
(seed 003), settled exactly on tabular autoregressive token models small enough to enumerate.

Setting: an LLM's response y = (y_0 … y_{T−1}) is drawn from the inference engine's policy μ
(the *sampler*) while the trainer differentiates its own copy π (the *learner*). Rewards are
terminal, J(π) = E_{y∼π}[R(y)], gradients are with respect to the learner's logit table (one
row per prefix). Multi-turn tasks interleave environment tokens whose distribution depends on
the history but not on the policy; ratios run over policy tokens only (mask = 0 elsewhere).

Every expectation below is an exact sum over all V^T sequences (V ≤ 3, T ≤ 4); the float64
results come from :mod:`reference_impls.token_models` and :mod:`reference_impls.mismatch`
(called through module attributes so a planted fault shows up), the high-precision ones from
an independent mpmath evaluator in this module (central differences of J at 60 digits).

One module per topic: a theorem, its checks and the seed statements about it side by side; helpers shared by
several topics are in ``_common``. The imports below are the claims' registration order, i.e. their order on
the report page.
"""

# The order below is the registration order, i.e. the report page's order.
# isort: off
from verify.claims.mismatch import sequence_is  # noqa: F401
from verify.claims.mismatch import token_is  # noqa: F401
from verify.claims.mismatch import decomposition  # noqa: F401
from verify.claims.mismatch import naive_bias  # noqa: F401
from verify.claims.mismatch import multiturn  # noqa: F401
from verify.claims.mismatch import tis_mis  # noqa: F401
from verify.claims.mismatch import token_tis  # noqa: F401
from verify.claims.mismatch import gspo  # noqa: F401
from verify.claims.mismatch import is_pg  # noqa: F401
from verify.claims.mismatch import pertinacity  # noqa: F401
from verify.claims.mismatch import puke  # noqa: F401
from verify.claims.mismatch import puke_redistribution  # noqa: F401
from verify.claims.mismatch import clip  # noqa: F401
from verify.claims.mismatch import takeaway  # noqa: F401
from verify.claims.mismatch import paths  # noqa: F401
# isort: on
