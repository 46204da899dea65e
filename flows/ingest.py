"""Prefect flow ``ldn-ingest-files``: PubMed baseline/update files on a task runner, Dask when asked.

Each file is one task (``ingest_task.map(paths)``): the task gzip-streams the file, keeps the
naltrexone records (byte prefilter), parses and assesses them, and returns them; it never opens the
database. The flow writes each file's result, in file-name order, through the one SQLite
connection of its run (``ingest.IngestRun.write``: batches, then the last batch + DeleteCitation +
the file's checksum line in one transaction); the run's bookkeeping (its ``runs`` row, totals,
progress) is ``ingest.ingest_run``, the same as ``ldn-monitor ingest-files --no-prefect``.

Why the writes live in the flow and not in the tasks:
- SQLite has one writer at a time; tasks that write themselves queue on its lock, and a worker
  whose read snapshot went stale gets SQLITE_BUSY at once (the busy timeout does not help that
  case), so parallel writers buy nothing and add a failure mode (``bench/bench_ingest.py``
  measures both designs).
- On a real cluster the workers do not have the database file, and SQLite over a network file
  system is unsafe; they only need to read the input files.
- Update files must land in order (a same-version update or a DeleteCitation after the record it
  changes); the flow stores results in name order whatever order the workers finish in.

Task runners: ``ThreadPoolTaskRunner`` (one file at a time) by default; ``DaskTaskRunner`` from
``prefect-dask`` when ``workers > 1`` (a ``distributed.LocalCluster`` of that many single-threaded
worker processes on 127.0.0.1) or when a scheduler address is given (``dask_address`` argument,
``--dask-address``, ``LDN_DASK_ADDRESS``). The input paths must be readable at the same path from
every worker (a shared file system); the database stays with the flow.

    from flows.ingest import run_ingest
    run_ingest(["data/baseline/"], workers=2)                        # local 2-worker cluster
    run_ingest(["/shared/pubmed/"], dask_address="tcp://10.0.0.5:8786")  # an existing cluster
"""
from __future__ import annotations

import logging
import os
from typing import Optional

from prefect import flow, get_run_logger, runtime, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from ldn_monitor import ingest
from ldn_monitor.errors import SettingsError

from flows.monitor import settings_for_run


@task(name="ldn-ingest-file", cache_policy=NO_CACHE)
def ingest_task(path: str, stored: frozenset = frozenset(), skip: frozenset = frozenset()) -> ingest.FileResult:
    """Scan + prefilter + parse + assess one file on a worker; nothing is written here."""
    return ingest.analyse_file(path, stored, skip)


def make_task_runner(workers: int = 1, dask_address: Optional[str] = None):
    """ThreadPool for one worker; a DaskTaskRunner for several, or for an existing scheduler."""
    if not dask_address and workers <= 1:
        return ThreadPoolTaskRunner(max_workers=1)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise SettingsError("--workers above 1 and LDN_DASK_ADDRESS need prefect-dask: "
                            "pip install 'ldn-monitor[dask]'") from None
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": int(workers), "threads_per_worker": 1, "processes": True,
                        "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0",
                        "silence_logs": logging.ERROR})


def _ingest(paths: list[str], overrides: Optional[dict], config: Optional[str], trigger: str) -> dict:
    s = settings_for_run(overrides, config)
    logger = get_run_logger()
    results: list[dict] = []

    def map_then_write(run: ingest.IngestRun) -> None:
        stored, skip = run.for_workers()
        futures = ingest_task.map([str(f) for f in run.files], stored=unmapped(stored), skip=unmapped(skip))
        for fut in futures:  # name order: updates and deletions land after what they change
            res = fut.result()
            r = run.write(res)
            results.append(r)
            logger.info("%s: %s", os.path.basename(res.path),
                        "skipped (already ingested)" if r["skipped"] else
                        f"{res.records} records, {res.topic} on topic, {res.matched} kept, "
                        f"{len(res.deleted)} deleted in file, scanned in {res.seconds:.1f} s")

    # Any exception's message goes on the run row, not only an LdnError's: what fut.result() raises
    # from a Dask worker is often Prefect's or Dask's own (a killed worker, a cancelled task), and the
    # row is where a scheduled run's failure is read.
    totals = ingest.ingest_run(s, paths, map_then_write, trigger=trigger,
                               flow_run_id=str(runtime.flow_run.id or ""), recorded_errors=Exception)
    totals["file_results"] = results
    return totals


@flow(name="ldn-ingest-files", log_prints=True,
      task_runner=make_task_runner(1, os.environ.get("LDN_DASK_ADDRESS") or None))
def ingest_files(paths: list[str], overrides: Optional[dict] = None, config: Optional[str] = None,
                 trigger: str = "flow") -> dict:
    """Ingest PubMed baseline/update files: files mapped over the task runner, writes in the flow.

    ``overrides``: non-secret settings for this run, e.g. {"db": "/tmp/x.db"}. The task runner is
    fixed when the flow object is made: ``run_ingest`` picks one per call; a deployment served
    with LDN_DASK_ADDRESS set uses that cluster.
    """
    return _ingest(paths, overrides, config, trigger)


def run_ingest(paths: list[str], workers: int = 1, dask_address: Optional[str] = None, *,
               settings=None, overrides: Optional[dict] = None, config: Optional[str] = None,
               trigger: str = "cli") -> dict:
    """Run ``ldn-ingest-files`` with the task runner for ``workers`` / ``dask_address``."""
    overrides = dict(overrides or {})
    if settings is not None:
        overrides.setdefault("db", str(settings.db))
        overrides.setdefault("batch_size", settings.batch_size)
        dask_address = dask_address or settings.dask_address
    runner = make_task_runner(workers, dask_address)
    return ingest_files.with_options(task_runner=runner)(
        paths=[str(p) for p in paths], overrides=overrides, config=config, trigger=trigger)
