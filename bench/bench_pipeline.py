"""Streaming ingestion benchmark: one input, every stage, one table.

    .venv/bin/python bench/bench_pipeline.py                 # 20,000 and 100,000 records (~11 min here)
    .venv/bin/python bench/bench_pipeline.py --sizes 2000    # a quick look

Input: the real EFetch samples (shared/eutils-samples/pubmed*.xml) and the corpus snapshot
(data/snapshot/pubmed.xml), repeated with fresh PMIDs to each size, written to bench/out/ (not
committed). Each stage runs in its own child process on the same file, so its peak RSS
(``ru_maxrss`` of that child) is its own:

- raw iterparse   ``lxml.etree.iterparse`` over the file, touching each PubmedArticle and nothing else
                  (clearing it, as any streaming reader must): the floor
- parse           ``parse.iter_records``
- parse+assess    + ``assess.assess`` on every record
- parse+assess+store  + ``pipeline.store_batch`` into a fresh SQLite file, batches of 500, one
                  transaction each (what a poll does per EFetch batch)
- ingest-file     (opt-in: ``--stages``) ``ingest.ingest_file`` on the same file (byte prefilter → parse → assess → store);
                  72 of every 78 records here are on topic, so this is the prefilter's worst case
- Entrez.read     Biopython's ``Entrez.read`` of the whole file (DTD-validating, all in memory)

Targets (ratios within one run): parse+assess+store >= 0.5 x raw iterparse and >= 5 x Entrez.read;
its peak RSS < 250 MB at 100,000 records and flat across sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SNAPSHOT = ROOT / "data" / "snapshot" / "pubmed.xml"
DOCTYPE = (b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
           b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">')
FIRST_PMID = 60_000_000
STAGES = ("iterparse", "parse", "parse+assess", "parse+assess+store", "ingest-file", "Entrez.read")
DEFAULT_STAGES = ("iterparse", "parse", "parse+assess", "parse+assess+store", "Entrez.read")
LABELS = {"iterparse": "raw iterparse (floor)", "parse": "parse (iter_records)",
          "parse+assess": "parse + assess", "parse+assess+store": "parse + assess + store",
          "ingest-file": "ingest-file (prefilter+parse+assess+store)", "Entrez.read": "Biopython Entrez.read"}


def samples_dir() -> Path:
    for base in (ROOT.parent, Path("/work")):
        d = base / "shared" / "eutils-samples"
        if d.is_dir():
            return d
    raise SystemExit("shared/eutils-samples not found beside the repository")


# --------------------------------------------------------------------------- input

def templates() -> list[bytes]:
    """Every PubmedArticle of the real samples and the snapshot, as bytes, in a fixed order."""
    from lxml import etree

    files = sorted(samples_dir().glob("pubmed*.xml")) + [SNAPSHOT]
    out = []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    for f in files:
        root = etree.parse(str(f), parser).getroot()
        for el in root.iter("PubmedArticle"):
            out.append(etree.tostring(el, encoding="UTF-8", with_tail=False).replace(
                b"<?xml version='1.0' encoding='UTF-8'?>\n", b""))
    return out


_PMID_RE = re.compile(rb'(<MedlineCitation\b[^>]*>\s*<PMID\b[^>]*>)\s*(\d+)\s*(</PMID>)')


def fresh_pmid(article: bytes, pmid: int) -> bytes:
    m = _PMID_RE.search(article)
    old = m.group(2)
    article = article[:m.start(2)] + str(pmid).encode() + article[m.end(2):]
    return article.replace(b'<ArticleId IdType="pubmed">' + old + b"</ArticleId>",
                           b'<ArticleId IdType="pubmed">' + str(pmid).encode() + b"</ArticleId>", 1)


def make_input(n: int, path: Path, first_pmid: int = FIRST_PMID) -> Path:
    if path.exists():
        return path
    tpl = templates()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n' + DOCTYPE + b"\n<PubmedArticleSet>\n")
        for i in range(n):
            fh.write(fresh_pmid(tpl[i % len(tpl)], first_pmid + i) + b"\n")
        fh.write(b"</PubmedArticleSet>\n")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- stages (child side)

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_stage(stage: str, path: Path) -> dict:
    import logging

    logging.disable(logging.CRITICAL)
    if stage == "iterparse":
        from lxml import etree
    elif stage == "Entrez.read":
        from Bio import Entrez
    else:
        from ldn_monitor import assess as assessor
        from ldn_monitor import ingest, pipeline
        from ldn_monitor.parse import iter_records
        from ldn_monitor.settings import Settings
        from ldn_monitor.store import Store
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    n = 0
    if stage == "iterparse":
        for _, el in etree.iterparse(str(path), events=("end",), tag="PubmedArticle", resolve_entities=False,
                                     no_network=True, load_dtd=False):
            n += 1
            el.clear(keep_tail=False)
            parent = el.getparent()
            while el.getprevious() is not None:
                del parent[0]
    elif stage == "parse":
        for _ in iter_records(path):
            n += 1
    elif stage == "parse+assess":
        for a in iter_records(path):
            assessor.assess(a)
            n += 1
    elif stage in ("parse+assess+store", "ingest-file"):
        db = OUT / f"bench-{stage}-{os.getpid()}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        settings = Settings(db=db, batch_size=500)
        with Store(db) as store:
            run_id = store.start_run("bench", "bench")
            t0 = time.perf_counter()  # schema creation is not part of the stage
            if stage == "ingest-file":
                n = ingest.ingest_file(settings, path, run_id, store=store)["matched"]
            else:
                batch = []
                for a in iter_records(path):
                    batch.append(a)
                    if len(batch) == 500:
                        pipeline.store_batch(store, tuple(batch), (), run_id)
                        n += len(batch)
                        batch = []
                if batch:
                    pipeline.store_batch(store, tuple(batch), (), run_id)
                    n += len(batch)
            stored = store.count("articles")
            assert stored == n, (stored, n)
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    elif stage == "Entrez.read":
        with open(path, "rb") as fh:
            n = len(Entrez.read(fh)["PubmedArticle"])
    else:
        raise SystemExit(f"unknown stage {stage}")
    secs = time.perf_counter() - t0
    return {"stage": stage, "records": n, "seconds": secs, "rss_start_mb": rss0, "peak_rss_mb": _rss_mb(),
            "assessor": assessor_id()}


def assessor_id() -> str:
    """ASSESSOR_VERSION + a hash of the assessor's source: stages of one table must share it."""
    import hashlib

    src = b"".join((ROOT / "ldn_monitor" / f).read_bytes() for f in ("assess.py", "assess_rules.py", "assess_numbers.py")
                   if (ROOT / "ldn_monitor" / f).exists())
    version = re.search(rb'ASSESSOR_VERSION = "([^"]+)"', src)
    return f"{version.group(1).decode() if version else '?'}#{hashlib.sha256(src).hexdigest()[:8]}"


def child(stage: str, path: Path, timeout: float = 7200) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", stage, str(path)], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"stage {stage} on {path.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- table

def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import lxml.etree as le
    from Bio import __version__ as bio

    from ldn_monitor.assess import ASSESSOR_VERSION

    return (f"{ASSESSOR_VERSION}; {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.machine()}, Python "
            f"{platform.python_version()}, lxml {'.'.join(map(str, le.LXML_VERSION[:3]))}, Biopython {bio}")


def table(rows: list[dict]) -> str:
    head = ("| records | stage | seconds | records/s | MB/s | peak RSS MB | x iterparse | x Entrez.read |\n"
            "|---:|---|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r['size']:,} | {LABELS[r['stage']]} | {r['seconds']:.1f} | {r['rate']:,.0f} | "
                     f"{r['mbps']:.1f} | {r['peak_rss_mb']:.0f} | {r['x_iterparse']:.3f} | {r['x_entrez']:.2f} |")
    return "\n".join(lines)


def verdicts(rows: list[dict], sizes: list[int]) -> list[str]:
    out = []
    store = {r["size"]: r for r in rows if r["stage"] == "parse+assess+store"}
    for size in sizes:
        r = store.get(size)
        if r is None:
            continue
        out.append(f"{size:,} records: parse+assess+store = {r['x_iterparse']:.3f} x raw iterparse (target >= 0.5: "
                   f"{'holds' if r['x_iterparse'] >= 0.5 else 'MISSED'}); {r['x_entrez']:.2f} x Entrez.read "
                   f"(target >= 5: {'holds' if r['x_entrez'] >= 5 else 'MISSED'})")
    if store:
        big = store[max(store)]
        growth = big["peak_rss_mb"] - store[min(store)]["peak_rss_mb"]
        out.append(f"peak RSS of parse+assess+store at {max(store):,}: {big['peak_rss_mb']:.0f} MB (target < 250: "
                   f"{'holds' if big['peak_rss_mb'] < 250 else 'MISSED'}); {min(store):,} -> {max(store):,} records: "
                   f"{growth:+.0f} MB ({'flat' if abs(growth) < 25 else 'GROWS'})")
    per = {r["stage"]: r for r in rows if r["size"] == max(sizes)}
    if all(k in per for k in ("parse", "parse+assess", "parse+assess+store")):
        us = lambda k: per[k]["seconds"] / per[k]["records"] * 1e6  # noqa: E731
        out.append(f"cost per record at {max(sizes):,}: parse {us('parse'):.0f} us, assess "
                   f"{us('parse+assess') - us('parse'):.0f} us, store {us('parse+assess+store') - us('parse+assess'):.0f} us "
                   f"(raw iterparse {per['iterparse']['seconds'] / per['iterparse']['records'] * 1e6:.0f} us)"
                   if "iterparse" in per else "")
    return [x for x in out if x]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20000,100000", help="comma-separated record counts")
    ap.add_argument("--stages", default=",".join(DEFAULT_STAGES),
                    help=f"subset of {','.join(STAGES)} (default: all but ingest-file)")
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_stage(args.child[0], Path(args.child[1]))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    stages = [s for s in args.stages.split(",") if s]
    print(f"# bench_pipeline {date.today().isoformat()} — {machine()}", flush=True)
    rows = []
    for size in sizes:
        path = make_input(size, OUT / f"pipeline-{size}.xml")
        mb = path.stat().st_size / 1e6
        print(f"input {path.relative_to(ROOT)}: {size:,} records, {mb:.1f} MB", flush=True)
        for stage in stages:
            r = child(stage, path)
            r.update(size=size, mb=mb, rate=r["records"] / r["seconds"], mbps=mb / r["seconds"])
            rows.append(r)
            print(f"  {LABELS[stage]:<45} {r['records']:>7} rec {r['seconds']:8.1f} s {r['rate']:9,.0f} rec/s "
                  f"{r['mbps']:7.1f} MB/s  peak RSS {r['peak_rss_mb']:6.0f} MB", flush=True)
        base = {r["stage"]: r["rate"] for r in rows if r["size"] == size}
        for r in rows:
            if r["size"] == size:
                r["x_iterparse"] = r["rate"] / base["iterparse"] if "iterparse" in base else float("nan")
                r["x_entrez"] = r["rate"] / base["Entrez.read"] if "Entrez.read" in base else float("nan")
    print()
    print(table(rows))
    print()
    for line in verdicts(rows, sizes):
        print(line)
    ids = sorted({r["assessor"] for r in rows if r["stage"] not in ("iterparse", "Entrez.read")})
    print(f"assessor: {', '.join(ids)}" + ("" if len(ids) == 1 else
                                            "  WARNING: the assessor changed during the run; re-run for a clean table"))
    (OUT / "pipeline.json").write_text(json.dumps({"date": date.today().isoformat(), "machine": machine(),
                                                   "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
