"""A claim whose expected verdict is wrong on purpose (CLI exit-code test)."""

from __future__ import annotations

from verify.harness import check
from verify.registry import Context, Evidence, Source, claim


@check("exact")
def holds(ctx: Context) -> Evidence:
    return Evidence("exact", True, "1 + 1 == 2" if 1 + 1 == 2 else "arithmetic broke")


claim(id="TEST-SLOW-FAST", title="expected verdict deliberately wrong", statement="1+1=2", source=Source("test"),
      family="engine", expected="refuted", checks=(holds,), min_kinds=1)
