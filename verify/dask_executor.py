"""Running claims on Dask distributed: a :class:`~verify.engine.Executor` for a cluster.

``DaskExecutor(workers=N)`` starts an embedded ``LocalCluster`` of N single-threaded worker
processes (closed again when the run ends); ``DaskExecutor(scheduler="tcp://host:8786")``
submits to an existing cluster instead and leaves it running. Either way each item is one
Dask task, results stream back as they finish, and the engine puts them back in registry
order, so the evidence is the same as with ``--workers 1`` for the same seed: a check's
seed depends on ``(seed, claim id, check name)`` only, never on where it ran.

Fault tolerance is the scheduler's: a task whose worker dies is rescheduled on another
worker (up to ``distributed.scheduler.allowed-failures`` times, which we set to 3 for
clusters we start), so a killed worker loses no result. Workers of a remote cluster must be
able to import ``verify`` and ``reference_impls`` (install this package there) and see the
same ``PGV_CLAIM_MODULES`` if plug-in claims are used.

``dask[distributed]`` is an optional dependency (the ``dask`` extra); importing this module
without it raises an ImportError that says how to install it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

try:
    import dask
    from distributed import Client, LocalCluster, as_completed
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the dask executor needs dask distributed: pip install 'pg-verify[dask]'"
    ) from exc

#: Times a task may be rescheduled after its worker died, on clusters we start.
ALLOWED_FAILURES = 3


class DaskExecutor:
    """Runs items as Dask tasks on a LocalCluster (``workers`` processes) or an existing scheduler."""

    def __init__(self, workers: int = 2, scheduler: str | None = None) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers: expected a positive integer, got {workers!r}")
        if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
            raise ValueError(f"scheduler: expected an address such as 'tcp://host:8786', got {scheduler!r}")
        self.workers = workers
        self.scheduler = scheduler

    def _client(self) -> tuple[Client, LocalCluster | None]:
        if self.scheduler is not None:
            return Client(self.scheduler), None
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,  # logging.ERROR: a rescheduled task is not an error of ours
            )
        return Client(cluster), cluster

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        client, cluster = self._client()
        try:
            futures = client.map(fn, list(items), pure=False)
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


__all__ = ["ALLOWED_FAILURES", "DaskExecutor"]
