"""Claims. :func:`verify.registry.load_all` imports every package and plain module here (sorted by name,
skipping names that start with ``_``); importing one registers its claims with :func:`verify.registry.claim`.

Layout: one package per family (``policy_gradient``, ``trust_region``, ``importance_sampling``, ``ppo_grpo``,
``kl_estimators``, ``value_targets``, ``mismatch``), one module per topic in it: a theorem, its checks and the
seed statements about it (with their corrections) side by side, plus the family's path claim (``paths.py``).
Helpers used by several topics of a family are in its ``_common.py``; the path machinery shared by every
family is in ``_paths.py``. A package's ``__init__`` imports its topic modules in a fixed order, which is the
order of the family's claims on its report page. Plain modules (a claim set that spans families) sit here too.
"""
