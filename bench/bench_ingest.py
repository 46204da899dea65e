"""Bulk PubMed files: prefilter strategies, 1 vs 2 Dask workers, where the writes go, and a projection.

    .venv/bin/python bench/bench_ingest.py                  # 4 files x 30,000 records (~5 min here)
    .venv/bin/python bench/bench_ingest.py --files 2 --records 5000   # a quick look

Input: baseline-like ``pubmed99nNNNN.xml.gz`` files in bench/out/ingest/ (not committed), 30,000
records each like NLM's: 1 % are the corpus snapshot's naltrexone records (fresh PMIDs), the rest
are the real EFetch samples and the snapshot records with the drug renamed (same sizes and shapes,
off topic). The real baseline is ~0.03 % naltrexone, so 1 % is conservative for the writer.

1. Prefilter strategies, one process, one file: what finding the topic records costs each way.
2. The ``ldn-ingest-files`` flow over all files: ThreadPool (1 worker), DaskTaskRunner on a
   local cluster of 1 and of 2 worker processes; files/minute, records/second, wall time with the
   cluster's start.
3. Writes in the flow (the design) vs writes in the tasks (each worker opens SQLite and runs
   ``ingest_file``; 30 s busy timeout), on 2 workers, with a dense mix (40 % on topic) where the
   writing matters.
4. Projection for the full baseline (~1,300 files of ~30,000 records) on N workers from the
   measured per-file cost; the single writer bounds it from below.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(HERE))

from bench_pipeline import DOCTYPE, fresh_pmid, machine, templates  # noqa: E402

BASELINE_FILES = 1300
BASELINE_RECORDS = 30_000


# --------------------------------------------------------------------------- input

def pools() -> tuple[list[bytes], list[bytes]]:
    """(on-topic, off-topic) article templates."""
    from ldn_monitor.ingest import prefilter

    tpl = templates()
    on = [t for t in tpl if prefilter(t)]
    off = [t for t in tpl if not prefilter(t)] + [re.sub(rb"(?i)naltrexon", b"acamprosat", t) for t in on]
    assert on and not any(prefilter(t) for t in off)
    return on, off


def make_files(n_files: int, records: int, topic_every: int, tag: str, first_pmid: int = 70_000_000) -> list[Path]:
    d = OUT / f"ingest-{tag}-{records}-{topic_every}"
    d.mkdir(parents=True, exist_ok=True)
    on, off = pools()
    paths = []
    pmid = first_pmid
    for k in range(1, n_files + 1):
        path = d / f"pubmed99n{k:04d}.xml.gz"
        paths.append(path)
        if path.exists():
            pmid += records
            continue
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wb", compresslevel=6) as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n' + DOCTYPE + b"\n<PubmedArticleSet>\n")
            for i in range(records):
                src = on[(pmid // topic_every) % len(on)] if i % topic_every == 0 else off[i % len(off)]
                fh.write(fresh_pmid(src, pmid) + b"\n")
                pmid += 1
            fh.write(b"</PubmedArticleSet>\n")
        os.replace(tmp, path)
    return paths


def _xml_mb(path: Path) -> float:
    with gzip.open(path, "rb") as fh:
        n = 0
        while True:
            b = fh.read(1 << 22)
            if not b:
                return n / 1e6
            n += len(b)


# --------------------------------------------------------------------------- 1. prefilter strategies

def strategies(path: Path) -> list[dict]:
    from lxml import etree

    from ldn_monitor.ingest import FileScan, TOPIC_NEEDLE, prefilter, scan_file
    from ldn_monitor.parse import iter_records

    opts = dict(resolve_entities=False, no_network=True, load_dtd=False)

    def release(el):
        el.clear(keep_tail=False)
        parent = el.getparent()
        while el.getprevious() is not None:
            del parent[0]

    def gunzip():
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass
        return None, None

    def iterparse_raw():
        n = 0
        with gzip.open(path, "rb") as fh:
            for _, el in etree.iterparse(fh, tag="PubmedArticle", **opts):
                n += 1
                release(el)
        return n, None

    def iterparse_tostring():
        n = hits = 0
        with gzip.open(path, "rb") as fh:
            for _, el in etree.iterparse(fh, tag="PubmedArticle", **opts):
                n += 1
                hits += prefilter(etree.tostring(el))
                release(el)
        return n, hits

    def iterparse_itertext():
        n = hits = 0
        with gzip.open(path, "rb") as fh:
            for _, el in etree.iterparse(fh, tag="PubmedArticle", **opts):
                n += 1
                hits += TOPIC_NEEDLE.decode() in "".join(el.itertext()).lower()
                release(el)
        return n, hits

    def byte_scan():
        scan = FileScan()
        hits = sum(1 for _ in scan_file(path, (), scan))
        return scan.records, hits

    def parse_all():
        hits = n = 0
        for a in iter_records(path):
            n += 1
            hits += TOPIC_NEEDLE.decode() in (a.title + a.abstract_text + " ".join(a.mesh_terms)).lower()
        return n, hits

    mb = _xml_mb(path)
    rows = []
    for name, fn in (("gunzip only (I/O floor)", gunzip), ("raw iterparse, touch each article", iterparse_raw),
                     ("iterparse + etree.tostring + prefilter", iterparse_tostring),
                     ("iterparse + itertext + needle", iterparse_itertext),
                     ("byte scan + parse kept (ingest.scan_file)", byte_scan),
                     ("full parse of every record (no prefilter)", parse_all)):
        t0 = time.perf_counter()
        n, hits = fn()
        secs = time.perf_counter() - t0
        rows.append({"strategy": name, "seconds": secs, "records": n, "kept": hits, "mbps": mb / secs,
                     "rate": (n / secs) if n else None})
        print(f"  {name:<44} {secs:6.2f} s  {mb / secs:7.1f} MB/s  "
              f"{(n or 0) / secs:9,.0f} rec/s  kept {hits if hits is not None else '-'}", flush=True)
    return rows


# --------------------------------------------------------------------------- 2./3. flows

def _fresh_db(name: str) -> Path:
    db = OUT / f"ingest-{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return db


def _dask(workers: int):
    from prefect_dask import DaskTaskRunner

    import logging

    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0",
                                          "silence_logs": logging.ERROR})


def run_flow(paths: list[Path], runner, name: str) -> dict:
    from flows.ingest import ingest_files

    db = _fresh_db(name)
    t0 = time.perf_counter()
    out = ingest_files.with_options(task_runner=runner)(paths=[str(p) for p in paths], overrides={"db": str(db)},
                                                        trigger="bench")
    wall = time.perf_counter() - t0
    res = out["file_results"]
    return {"config": name, "wall": wall, "flow_seconds": out["seconds"], "files": len(res),
            "records": out["records"], "matched": out["matched"],
            "scan_s_per_file": sum(r["scan_seconds"] for r in res) / len(res),
            "write_s_per_file": sum(r.get("write_seconds", 0.0) for r in res) / len(res)}


def run_task_writes(paths: list[Path], workers: int, immediate: bool) -> dict:
    """The alternative design: each task opens SQLite itself and writes its own file.

    ``immediate=False``: the task runs ``ingest_file`` (parse/assess inside each batch's
    transaction; ``Store.atomic`` takes the write lock up front, 30 s busy timeout).
    ``immediate=True``: the task analyses first, then writes the whole file in one
    ``BEGIN IMMEDIATE`` transaction."""
    from prefect import flow

    from ldn_monitor.store import Store

    name = "task-writes-immediate" if immediate else "task-writes"
    db = _fresh_db(name)
    with Store(db) as store:
        run_id = store.start_run("ingest", "bench")

    @flow(name="bench-ingest-task-writes")
    def task_writes(paths: list[str]) -> list:
        futs = _write_task.map(paths, db=str(db), run_id=run_id, immediate=immediate)
        return [f.result() for f in futs]

    label = ("writes in tasks, analyse then BEGIN IMMEDIATE" if immediate
             else "writes in tasks, ingest_file per batch") + f", Dask {workers} workers"
    t0 = time.perf_counter()
    try:
        out = task_writes.with_options(task_runner=_dask(workers))(paths=[str(p) for p in paths])
    except Exception as exc:  # the point of the comparison: report it, don't die
        return {"config": label, "wall": time.perf_counter() - t0, "files": len(paths), "records": 0, "matched": 0,
                "scan_s_per_file": float("nan"), "error": f"{type(exc).__name__}: {exc}"}
    wall = time.perf_counter() - t0
    return {"config": label, "wall": wall, "files": len(out),
            "records": sum(r["records"] for r in out), "matched": sum(r["matched"] for r in out),
            "scan_s_per_file": sum(r["seconds"] for r in out) / len(out)}


def _write_task_fn(path: str, db: str, run_id: int, immediate: bool) -> dict:
    from ldn_monitor import ingest
    from ldn_monitor.settings import Settings
    from ldn_monitor.store import Store

    if not immediate:
        return ingest.ingest_file(Settings(db=Path(db)), path, run_id)
    with Store(db) as store:
        res = ingest.analyse_file(path, store.pmids(include_deleted=True), ingest.processed_checksums(store))
        store.db.execute("BEGIN IMMEDIATE")
        try:
            ingest.store_result(store, res, run_id, 500)
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
    return {"records": res.records, "matched": res.matched, "seconds": res.seconds}


def _make_write_task():
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return task(_write_task_fn, name="bench-ingest-write", cache_policy=NO_CACHE)


_write_task = None


def _row(r: dict) -> str:
    return (f"| {r['config']} | {r['files']} | {r['records']:,} | {r['matched']:,} | {r['wall']:.1f} | "
            f"{r['files'] / r['wall'] * 60:.1f} | {r['records'] / r['wall']:,.0f} | {r['scan_s_per_file']:.2f} |")


HEAD = ("| configuration | files | records | kept | wall s | files/min | records/s | worker s/file |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|")


def main(argv=None) -> int:
    global _write_task
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--records", type=int, default=BASELINE_RECORDS)
    ap.add_argument("--dense-files", type=int, default=4)
    ap.add_argument("--dense-records", type=int, default=1500)
    ap.add_argument("--skip-strategies", action="store_true")
    args = ap.parse_args(argv)

    os.environ.setdefault("PREFECT_HOME", str(OUT / "prefect-home-ingest"))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    import logging

    logging.getLogger("ldn_monitor").setLevel(logging.WARNING)
    print(f"# bench_ingest {date.today().isoformat()} — {machine()}", flush=True)
    paths = make_files(args.files, args.records, 100, "baseline")
    mb = _xml_mb(paths[0])
    gz = paths[0].stat().st_size / 1e6
    print(f"input: {len(paths)} files x {args.records:,} records (1 % naltrexone), {mb:.0f} MB XML / "
          f"{gz:.0f} MB .gz each, in {paths[0].parent.relative_to(ROOT)}", flush=True)
    result: dict = {"date": date.today().isoformat(), "machine": machine(), "mb_per_file": mb, "gz_mb_per_file": gz}
    if not args.skip_strategies:
        print("\n1. prefilter strategies (one process, one file)", flush=True)
        result["strategies"] = strategies(paths[0])

    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect.testing.utilities import prefect_test_harness

    _write_task = _make_write_task()
    with prefect_test_harness(server_startup_timeout=180):
        for name in ("distributed", "prefect"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        print("\n2. the ldn-ingest-files flow (Prefect test server; writes in the flow)", flush=True)
        runs = [run_flow(paths, ThreadPoolTaskRunner(max_workers=1), "ThreadPool, 1 worker"),
                run_flow(paths, _dask(1), "Dask LocalCluster, 1 worker"),
                run_flow(paths, _dask(2), "Dask LocalCluster, 2 workers")]
        print(HEAD)
        for r in runs:
            print(_row(r), flush=True)
        result["runs"] = runs

        print(f"\n3. where the writes go: {args.dense_files} files x {args.dense_records:,} records, 40 % on topic, "
              "Dask 2 workers", flush=True)
        dense = make_files(args.dense_files, args.dense_records, 1, "dense", first_pmid=80_000_000)
        dense = _thin(dense, args.dense_records)
        w = [run_flow(dense, _dask(2), "writes in the flow (design), Dask 2 workers"),
             run_task_writes(dense, 2, immediate=True), run_task_writes(dense, 2, immediate=False)]
        print(HEAD)
        for r in w:
            print(_row(r) if "error" not in r else
                  f"| {r['config']} | {r['files']} | failed after {r['wall']:.1f} s: {r['error'][:160]} |||||", flush=True)
        result["writes"] = w

    one = next(r for r in runs if r["config"].startswith("Dask LocalCluster, 1"))
    two = next(r for r in runs if r["config"].startswith("Dask LocalCluster, 2"))
    per_file = one["wall"] / one["files"]  # end to end on 1 worker: cluster start, Prefect, scan, write
    scan, write = one["scan_s_per_file"], one["write_s_per_file"]
    print(f"\n4. projection: ~{BASELINE_FILES:,} files of ~{BASELINE_RECORDS:,} records")
    print(f"  measured per file: {scan:.2f} s on the worker (hash + gunzip + byte scan + parse/assess of the kept "
          f"records), {write:.2f} s writing in the flow, {per_file:.2f} s end to end on 1 worker (cluster start "
          f"included); 1 -> 2 workers here: {one['wall'] / two['wall']:.2f}x (2 cores also run the flow process)")
    print("\n| workers | projected time | files/min |\n|---:|---:|---:|")
    proj = []
    for n in (1, 2, 4, 8, 16, 32, 64):
        secs = BASELINE_FILES * max(per_file / n, write)
        proj.append({"workers": n, "seconds": secs})
        print(f"| {n} | {_hms(secs)} | {BASELINE_FILES / secs * 60:.0f} |")
    print(f"  (assumes one worker per core and linear scaling; the single writer bounds it at "
          f"~{_hms(BASELINE_FILES * write)} for the whole baseline at 1 % topic density — the real ~0.03 % writes "
          f"~30x less; input: {gz * BASELINE_FILES / 1000:.0f} GB of .gz read from shared storage)")
    result["projection"] = proj
    (OUT / "ingest.json").write_text(json.dumps(result, indent=2, default=str))
    return 0


def _thin(paths: list[Path], records: int) -> list[Path]:
    """Dense files: 40 % on topic (every record from the on-topic pool, then 60 % of them renamed)."""
    out = []
    for p in paths:
        q = p.with_name(p.name.replace("pubmed99n", "pubmed98n"))
        if not q.exists():
            with gzip.open(p, "rb") as fh:
                data = fh.read()
            head, _, rest = data.partition(b"<PubmedArticleSet>\n")
            arts = rest.rsplit(b"</PubmedArticleSet>", 1)[0].split(b"</PubmedArticle>\n")
            arts = [a + b"</PubmedArticle>" for a in arts if a.strip()]
            arts = [a if i % 5 < 2 else re.sub(rb"(?i)naltrexon", b"acamprosat", a) for i, a in enumerate(arts)]
            with gzip.open(q, "wb", compresslevel=6) as fh:
                fh.write(head + b"<PubmedArticleSet>\n" + b"\n".join(arts) + b"\n</PubmedArticleSet>\n")
        out.append(q)
    return out


def _hms(secs: float) -> str:
    h, rem = divmod(int(round(secs)), 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


if __name__ == "__main__":
    sys.exit(main())
