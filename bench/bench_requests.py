"""What a poll really costs NCBI: E-utilities requests for N new records, against the replay server.

    .venv/bin/python bench/bench_requests.py              # request counts + paced runs (~1 min)
    .venv/bin/python bench/bench_requests.py --prefect    # + a nothing-new run against a running Prefect server

For N = 0, 10, 1,000 and 20,000 records (synthetic PubmedArticles, 20 per Entrez day, in
bench/out/requests-N/), it counts the requests the replay server received for

- a poll of the window holding the N new records: ``PubMedClient.fetch_window`` (what
  ``pipeline.poll`` issues), expected 1 ESearch + ceil(N / batch) EFetch; above ESearch's
  9,999-id horizon the window is split in halves, one ESearch per piece;
- a full re-query of the subject set (``run --full``): the same fetch over the whole date range,
  plus the id listing (``search_all_ids``) that diffs the subject set against the store.

Counting runs unpaced (rate 1,000/s) so it is quick; the table adds the time those requests take at
NCBI's 3/s (no API key) and 10/s (key). Then every poll is repeated paced at 3/s and 10/s against a
replay server that answers 429 above that rate: zero 429s means the client never exceeded it.

``--prefect`` starts ``prefect server start`` on 127.0.0.1 (PREFECT_HOME under bench/out), runs the
``ldn-monitor`` flow on the offline snapshot twice (a backfill, then a run with nothing new) and
reports the second run's wall time and where it went (per task, and Prefect's own overhead).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "tests"))

SIZES = (0, 10, 1000, 20000)
PER_DAY = 20
START = date(2024, 1, 1)
TERM = "naltrexone"


def snapshot(n: int) -> Path:
    from replay_helpers import article_xml, write_articles

    d = OUT / f"requests-{n}"
    f = d / "records.xml"
    if not f.exists():
        arts = (article_xml(40_000_001 + i, START + timedelta(days=i // PER_DAY)) for i in range(n))
        write_articles(f, arts)
    return d


def window(n: int) -> tuple[str, str]:
    last = START + timedelta(days=max(0, (n - 1) // PER_DAY))
    return START.strftime("%Y/%m/%d"), last.strftime("%Y/%m/%d")


def settings(url: str, rate: float, batch: int):
    from ldn_monitor.settings import Settings

    return Settings(eutils_url=url, ncbi_email="bench@example.org", ncbi_tool="ldn-monitor-bench", rate=rate,
                    batch_size=batch, backoff=0.5, max_retries=5, timeout=60.0)


def _count(server, before: int) -> dict:
    paths = [p for p, _ in server.requests[before:]]
    return {"esearch": sum(p.endswith("esearch.fcgi") for p in paths),
            "efetch": sum(p.endswith("efetch.fcgi") for p in paths)}


def count_requests(n: int, batch: int) -> dict:
    from ldn_monitor.pubmed import PubMedClient
    from ldn_monitor.replay import ReplayServer

    lo, hi = window(n)
    with ReplayServer(snapshot(n)) as server:
        with PubMedClient(settings(server.url, 1000.0, batch)) as client:
            got = sum(len(r.articles) for r in client.fetch_window(TERM, lo, hi))
            poll = _count(server, 0)
            mark = len(server.requests)
            full_got = sum(len(r.articles) for r in client.fetch_window(TERM, "1970/01/01",
                                                                        date.today().strftime("%Y/%m/%d")))
            ids = client.search_all_ids(TERM)
            full = _count(server, mark)
    assert got == n and full_got == n and len(ids) == n, (n, got, full_got, len(ids))
    return {"n": n, "batch": batch, "poll": poll, "full": full, "expected_poll": 1 + math.ceil(n / batch)}


def paced(n: int, rate: float, batch: int = 500) -> dict:
    from ldn_monitor.pubmed import PubMedClient
    from ldn_monitor.replay import ReplayServer

    lo, hi = window(n)
    with ReplayServer(snapshot(n), rate_limit=rate) as server:
        with PubMedClient(settings(server.url, rate, batch)) as client:
            t0 = time.perf_counter()
            got = sum(len(r.articles) for r in client.fetch_window(TERM, lo, hi))
            secs = time.perf_counter() - t0
            return {"n": n, "rate": rate, "records": got, "requests": client.requests_made, "seconds": secs,
                    "429": server.rate_limited}


# --------------------------------------------------------------------------- Prefect: a run with nothing new

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_nothing_new(api_url: str | None) -> dict:
    """Run in a child with PREFECT_* set: backfill once, then time a run that finds nothing new."""
    server = None
    home = OUT / "prefect-home"
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_LEVEL="WARNING")
    if api_url is None:
        port = _free_port()
        home.mkdir(parents=True, exist_ok=True)
        server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host",
                                   "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        api_url = f"http://127.0.0.1:{port}/api"
        import requests

        t0 = time.time()
        while time.time() - t0 < 180:
            try:
                if requests.get(api_url + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            server.terminate()
            raise SystemExit("prefect server did not start within 180 s")
    try:
        env["PREFECT_API_URL"] = api_url
        proc = subprocess.run([sys.executable, __file__, "--prefect-child"], env=env, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"prefect run failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def _prefect_child() -> dict:
    import asyncio

    t_import = time.perf_counter()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.monitor import monitor
    from ldn_monitor.replay import ReplayServer

    import_s = time.perf_counter() - t_import
    db = OUT / "prefect-run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.rmtree(OUT / "prefect-outbox", ignore_errors=True)
    with ReplayServer(ROOT / "data" / "snapshot") as server:
        ov = {"db": str(db), "outbox": str(OUT / "prefect-outbox"), "eutils_url": server.url, "rate": 3.0,
              "registry": False}
        first = monitor(trigger="bench", overrides=ov)
        before = len(server.requests)
        t0 = time.perf_counter()
        second = monitor(trigger="bench", overrides=ov)
        wall = time.perf_counter() - t0
        reqs = len(server.requests) - before

    async def tasks(flow_run_id: str):
        async with get_client() as client:
            fr = await client.read_flow_run(flow_run_id)
            trs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[fr.id])))
            return fr, trs

    from ldn_monitor.store import Store

    with Store(db) as store:
        flow_run_id = store.runs(1)[0]["flow_run_id"]
    fr, trs = asyncio.run(tasks(flow_run_id))
    per_task = sorted(((t.name.split("-")[1] if t.name.count("-") >= 1 else t.name,
                        (t.end_time - t.start_time).total_seconds() if t.end_time and t.start_time else 0.0)
                       for t in trs), key=lambda x: -x[1])
    return {"first_new": first.get("new"), "second_new": second.get("new"), "second_status": second["status"],
            "wall_s": wall, "flow_run_s": (fr.end_time - fr.start_time).total_seconds() if fr.end_time else None,
            "requests": reqs, "tasks": per_task, "import_s": import_s}


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefect", action="store_true", help="also time a nothing-new run on a Prefect server")
    ap.add_argument("--prefect-api", help="use this running Prefect server (…/api) instead of starting one")
    ap.add_argument("--no-paced", action="store_true", help="skip the paced 3/s and 10/s runs")
    ap.add_argument("--prefect-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.prefect_child:
        print(json.dumps(_prefect_child()))
        return 0
    import logging

    logging.disable(logging.WARNING)
    print(f"# bench_requests {date.today().isoformat()}: {os.cpu_count()} cores; replay server on 127.0.0.1, "
          f"ESearch horizon 9,999 ids, EFetch batch 500 (LDN_BATCH_SIZE)")
    rows = [count_requests(n, 500) for n in SIZES] + [count_requests(20000, 10000)]
    print("\n| N new | batch | poll: ESearch | poll: EFetch | poll total | 1 + ceil(N/batch) | "
          "min time at 3/s | at 10/s | full re-query: ESearch | EFetch | total |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p, f = r["poll"], r["full"]
        tot = p["esearch"] + p["efetch"]
        ftot = f["esearch"] + f["efetch"]
        print(f"| {r['n']:,} | {r['batch']:,} | {p['esearch']} | {p['efetch']} | {tot} | {r['expected_poll']} | "
              f"{tot / 3:.1f} s | {tot / 10:.1f} s | {f['esearch']} | {f['efetch']} | {ftot} |")
    if not args.no_paced:
        print("\npaced against a replay server that answers 429 above the same rate:")
        print("\n| N new | rate | requests | wall time | 429s |\n|---:|---:|---:|---:|---:|")
        for rate in (3.0, 10.0):
            for n in SIZES:
                r = paced(n, rate)
                assert r["records"] == n
                print(f"| {n:,} | {rate:g}/s | {r['requests']} | {r['seconds']:.1f} s | {r['429']} |", flush=True)
    if args.prefect or args.prefect_api:
        r = prefect_nothing_new(args.prefect_api)
        print(f"\nnothing-new run of the ldn-monitor flow on a running Prefect server "
              f"(snapshot of 72 records already stored; LDN_RATE=3): {r['second_status']}, new {r['second_new']}, "
              f"{r['requests']} E-utilities requests")
        print(f"  wall time {r['wall_s']:.2f} s (flow run {r['flow_run_s']:.2f} s as Prefect recorded it; "
              f"importing prefect + flows before it: {r['import_s']:.1f} s)")
        busy = sum(s for _, s in r["tasks"])
        for name, secs in r["tasks"]:
            print(f"  task {name:<10} {secs:6.2f} s")
        print(f"  Prefect orchestration (flow/task run creation, state changes, logs): {r['wall_s'] - busy:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
