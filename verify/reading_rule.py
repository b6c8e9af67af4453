"""The rule by which seed statements are read before they are judged (shown in the report legend)."""

from __future__ import annotations

#: How every seed statement is read. A claim that the rule decided says how in ``Claim.reading``.
READING_RULE = (
    "Each seed sentence is read in the seed's own notation and conventions, as its author most plausibly meant "
    "it, and judged on what it asserts, not on a clause a reader could add. A strict '<' that fails only at "
    "equality, or an unstated factor that changes no conclusion, is a note on a verified claim (or on the "
    "corrected statement), not a refutation. A sentence is refuted only when, so read, a check finds a "
    "counterexample or an exact discrepancy; the corrected statement is then a separate, verified claim."
)
