"""A claim module loaded only by the CLI interrupt test (PGV_CLAIM_MODULES=_slow_claims)."""

from __future__ import annotations

import time

from verify.harness import check
from verify.registry import Context, Evidence, Source, claim


@check("exact")
def sleeps(ctx: Context) -> Evidence:
    time.sleep(60)
    return Evidence("exact", True, "slept")


claim(id="TEST-SLOW", title="a deliberately slow claim", statement="1=1", source=Source("test"), family="engine",
      expected="undecided", checks=(sleeps,), min_kinds=2)
