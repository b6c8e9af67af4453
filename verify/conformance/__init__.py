"""The conformance kit: is *your* GAE / V-trace / PPO loss / KL estimator right? One line, with why.

    from verify.conformance import assert_conforms, check
    assert_conforms(my_gae, "returns.gae")                 # raises AssertionError explaining any difference
    result = check(my_k3, "divergences.kl_estimator", kind="k3")
    print(result)                                          # where it differs, a minimal counterexample, a diagnosis

``check(fn, target, ...)`` calls ``fn`` positionally in the argument order of
``reference_impls.<target>`` (parameters given as keywords are fixed and passed by keyword) on
inputs drawn by hypothesis to hit the classic failure points (episode ends at the first and last
step, terminated and truncated together, long sequences, gamma and lambda at 0 and 1, ratios far
outside the clip band, extreme log-ratios, all-masked and single-token sequences, float32 and
float64), shrinks a failure to a minimal counterexample, and names the catalogued bug classes
whose outputs equal ``fn``'s on every example tried. :mod:`verify.conformance.adapters` converts
other libraries' conventions (dones, discount arrays, a T + 1 values stream, time-major layout,
output order, float masks, torch tensors).
"""

from verify.conformance import adapters
from verify.conformance._check import TOLERANCE_RULE, ConformanceResult, assert_conforms, check
from verify.conformance._targets import TARGETS

__all__ = ["TARGETS", "TOLERANCE_RULE", "ConformanceResult", "adapters", "assert_conforms", "check"]
