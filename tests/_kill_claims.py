"""A claim module for the sweep fault-tolerance test (PGV_CLAIM_MODULES=_kill_claims).

Its check kills the worker process that runs it the first time (the marker file named by
``PGV_TEST_KILL_MARKER`` does not exist yet), so a Dask sweep must reschedule that task.
"""

from __future__ import annotations

import os
from pathlib import Path

from verify.harness import check
from verify.registry import Context, Evidence, Source, claim


@check("exact")
def dies_once(ctx: Context) -> Evidence:
    marker = Path(os.environ["PGV_TEST_KILL_MARKER"])
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return Evidence("exact", True, f"ran to the end at seed {ctx.seed}", figures={"seed": ctx.seed})
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os._exit(1)  # the worker dies mid-task, as if killed


@check("symbolic")
def trivially_true(ctx: Context) -> Evidence:
    return Evidence("symbolic", True, "1 = 1")


claim(id="TEST-KILL-ONCE", title="a claim whose first run kills its worker", statement="1=1",
      source=Source("test"), family="engine", expected="verified", checks=(dies_once, trivially_true))
