"""Mechanical verification of policy-gradient claims.

``verify.run_claims(ids=None, *, profile="ci", seed=0)`` runs registered claims and
returns their derived statuses; ``python -m verify`` is the command line.
"""

from verify.engine import ClaimResult, run_claims
from verify.registry import REGISTRY, Claim, Evidence, Source, load_all

__all__ = ["REGISTRY", "Claim", "ClaimResult", "Evidence", "Source", "load_all", "run_claims"]
