"""PPO, GRPO, GSPO and SAPO objectives, the slides' PPO
statements as written (seed 001), the loss-aggregation length bias, and a table of the
peers' conventions with their exact effect on a fixed example.

Expected gradients are exact: enumeration over a categorical, a tabular MDP (linear
algebra) or a small token tree (a tabular autoregressive model), never sampled.

One module per topic: a theorem, its checks and the seed statements about it side by side; helpers shared by
several topics are in ``_common``. The imports below are the claims' registration order, i.e. their order on
the report page.
"""

# The order below is the registration order, i.e. the report page's order.
# isort: off
from verify.claims.ppo_grpo import clip_objective  # noqa: F401
from verify.claims.ppo_grpo import clip_gradient  # noqa: F401
from verify.claims.ppo_grpo import clip_fraction  # noqa: F401
from verify.claims.ppo_grpo import kl_penalty  # noqa: F401
from verify.claims.ppo_grpo import grpo  # noqa: F401
from verify.claims.ppo_grpo import loss_aggregation  # noqa: F401
from verify.claims.ppo_grpo import gspo  # noqa: F401
from verify.claims.ppo_grpo import sapo  # noqa: F401
from verify.claims.ppo_grpo import peer_conventions  # noqa: F401
from verify.claims.ppo_grpo import paths  # noqa: F401
# isort: on
