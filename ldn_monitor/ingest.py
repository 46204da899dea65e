"""Bulk ingestion of PubMed baseline/update files (``pubmedYYnNNNN.xml.gz``): ``ldn-monitor ingest-files``.

A baseline file holds ~30,000 records, of which a handful are about naltrexone, so the full parse
(``parse.iter_records``) and the assessor must only ever see those few. The file is therefore
gzip-streamed in ~4 MiB pieces and filtered **as bytes**, before any XML parsing:

1. each piece is cut after its last complete ``</PubmedArticle>`` (or ``</PubmedBookArticle>`` /
   ``</DeleteCitation>``); the rest waits for the next piece;
2. the topic needle (:data:`TOPIC_NEEDLE`, ``naltrexon``, case-insensitive: ASCII-lowercased bytes,
   then ``bytes.find``) is searched over the whole piece at C speed, and each hit is widened to the
   article around it. Records already in the store are kept too (found by their MedlineCitation
   PMID), so an update that drops the word still replaces the stored record;
3. the kept article slices are wrapped in the file's own prolog (XML declaration, DOCTYPE,
   ``<PubmedArticleSet>``) and parsed by ``parse.iter_records``, with its security options;
   ``DeleteCitation`` blocks are parsed the same way.

A record is kept exactly when :func:`prefilter` says so for its bytes (same needle, same rule);
measured against the alternatives (``iterparse`` + ``etree.tostring`` + regex, ``iterparse`` +
``itertext``) the byte scan is several times faster, and faster than a bare ``iterparse`` that
touches nothing (``bench/bench_ingest.py`` prints the comparison).

What the store sees: articles in batches of ``settings.batch_size`` through
``pipeline.store_batch`` (upsert keeps the highest PMID version; DeleteCitation flags stored PMIDs
deleted), one transaction per batch; the last batch, the file's deletions and its line in
``processed_files`` (SHA-256 of the file as read) commit together, so a killed run leaves the file
unlogged and a re-run repeats it (idempotently), while a finished file is skipped by checksum.

Files are applied in name order (NLM numbers baseline files first, then update files), because a
same-version update or a DeleteCitation must land after the record it changes. With several
workers (``flows/ingest.py``, or ``--no-prefect --workers N``) the scanning, parsing and assessing
of files run in parallel and the writes stay in one process, still in name order.

This module does not take the monitor's run lease: ingestion is row-wise idempotent and may run
for hours, so it must not hold off the weekly poll.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

from . import assess as assessor
from .errors import BadResponse, InputError, LdnError
from .parse import iter_records
from .records import Article
from .settings import Settings

log = logging.getLogger("ldn_monitor.ingest")

__all__ = [
    "TOPIC_NEEDLE", "prefilter", "FileScan", "scan_file", "sha256_file", "expand_paths", "analyse_file",
    "FileResult", "ingest_file", "store_result", "processed_checksums", "IngestRun", "ingest_run", "ingest_paths",
    "add_cli",
]

# The drug's stem: naltrexone, Naltrexone (MeSH), NALTREXONE, methylnaltrexone, "Naltrexon" (German).
# The topic query is ("Naltrexone"[MeSH] OR naltrexone[tiab]) AND a low-dose cue; the prefilter
# keeps every naltrexone record and lets the parser + assessor decide what is LDN.
TOPIC_NEEDLE = b"naltrexon"

CHUNK_BYTES = 4 << 20  # decompressed bytes read per piece
_ARTICLE_END = (b"</PubmedArticle>", b"</PubmedBookArticle>", b"</DeleteCitation>")
_STARTS = ((b"<PubmedArticle>", b"</PubmedArticle>"), (b"<PubmedArticle ", b"</PubmedArticle>"),
           (b"<PubmedBookArticle>", b"</PubmedBookArticle>"), (b"<PubmedBookArticle ", b"</PubmedBookArticle>"))
_ROOT = re.compile(rb"<(PubmedArticleSet|PubmedBookArticleSet)\b[^>]*>")
_PMID = re.compile(rb"<(?:MedlineCitation|BookDocument)\b[^>]*>\s*<PMID\b[^>]*>\s*(\d+)\s*</PMID>")
_HEAD_LIMIT = 1 << 16


def prefilter(raw_article: bytes) -> bool:
    """True when one article's raw XML bytes mention naltrexone (any ASCII case).

    Bytes, not parsed text: it runs before the parse. An entity-encoded letter inside the word
    (``naltrex&#111;ne``) would escape it; PubMed does not write text that way.
    """
    return TOPIC_NEEDLE in raw_article.lower()


# --------------------------------------------------------------------------- file scanning

@dataclass
class FileScan:
    """Running totals of one file's scan (filled in while :func:`scan_file` iterates)."""

    records: int = 0  # PubmedArticle + PubmedBookArticle elements in the file
    topic: int = 0  # records the prefilter kept
    kept: int = 0  # records parsed (topic + already-stored PMIDs)
    deleted: list = field(default_factory=list)  # PMIDs in DeleteCitation, document order
    bytes_in: int = 0  # decompressed XML bytes
    sha256: str = ""


def sha256_file(path: str | os.PathLike, bufsize: int = 1 << 20) -> str:
    """SHA-256 of the file as stored (the .gz bytes for a .gz file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(bufsize)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _open_xml(path: Path):
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":  # by content, not by the name
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def _bounds(buf: bytes, pos: int, cut: int) -> Optional[tuple[int, int]]:
    """(start, end) of the PubmedArticle/PubmedBookArticle holding byte ``pos``, or None."""
    best, end_tag = -1, b""
    for start_tag, closing in _STARTS:
        i = buf.rfind(start_tag, 0, pos + 1)
        if i > best:
            best, end_tag = i, closing
    if best < 0:
        return None
    j = buf.find(end_tag, best, cut)
    if j < 0 or j + len(end_tag) <= pos:
        return None  # the hit lies between articles (a DeleteCitation, the prolog)
    return best, j + len(end_tag)


def _wrap(prolog: bytes, closing: bytes, parts: Sequence[bytes]) -> bytes:
    return prolog + b"\n" + b"\n".join(parts) + b"\n" + closing


def scan_file(path: str | os.PathLike, stored: Iterable[str] = (), scan: Optional[FileScan] = None,
              chunk_bytes: int = CHUNK_BYTES) -> Iterator[Article]:
    """Yield the file's topic articles (and stored PMIDs' records), in document order.

    ``scan`` collects the counts and the DeleteCitation PMIDs as the file is read. Raises
    InputError for a file that is not a PubmedArticleSet, is truncated, or whose kept records do
    not parse.
    """
    path = Path(path)
    scan = scan if scan is not None else FileScan()
    stored_b = {str(p).encode() for p in stored}
    try:
        stream, raw = _open_xml(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        yield from _scan(path, stream, stored_b, scan, chunk_bytes)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{path.name} is a truncated or corrupt gzip file ({exc}); download it again") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        stream.close()
        raw.close()


def _scan(path: Path, stream, stored_b: set, scan: FileScan, chunk_bytes: int) -> Iterator[Article]:
    buf = b""
    prolog = closing = None
    eof = False
    while not eof:
        data = stream.read(chunk_bytes)
        eof = not data
        scan.bytes_in += len(data)
        buf = buf + data if buf else data
        if prolog is None:
            m = _ROOT.search(buf, 0, _HEAD_LIMIT)
            if m is None:
                if eof or len(buf) >= _HEAD_LIMIT:
                    raise InputError(f"{path.name} is not a PubMed baseline/update file: no <PubmedArticleSet> "
                                     "in its first 64 KiB")
                continue
            prolog, closing = buf[:m.end()], b"</" + m.group(1) + b">"
        cut = max(buf.rfind(tag) + len(tag) if buf.rfind(tag) >= 0 else 0 for tag in _ARTICLE_END)
        if eof:
            tail = buf[cut:]
            if closing not in tail:
                raise InputError(f"{path.name} ends without {closing.decode()}: the file is truncated; "
                                 "download it again")
            cut = len(buf)
        if cut == 0:
            continue
        yield from _scan_piece(path, buf, cut, prolog, closing, stored_b, scan)
        buf = buf[cut:]


def _scan_piece(path: Path, buf: bytes, cut: int, prolog: bytes, closing: bytes, stored_b: set,
                scan: FileScan) -> Iterator[Article]:
    scan.records += buf.count(b"</PubmedArticle>", 0, cut) + buf.count(b"</PubmedBookArticle>", 0, cut)
    spans: dict[int, int] = {}
    low = buf.lower()
    pos = low.find(TOPIC_NEEDLE, 0, cut)
    while pos >= 0:
        b = _bounds(buf, pos, cut)
        if b is None:
            pos = low.find(TOPIC_NEEDLE, pos + 1, cut)
            continue
        spans[b[0]] = b[1]
        pos = low.find(TOPIC_NEEDLE, b[1], cut)
    del low
    scan.topic += len(spans)
    if stored_b:
        for m in _PMID.finditer(buf, 0, cut):
            if m.group(1) in stored_b:
                b = _bounds(buf, m.start(), cut)
                if b is not None:
                    spans.setdefault(b[0], b[1])
    deletes = []
    i = buf.find(b"<DeleteCitation", 0, cut)
    while i >= 0:
        j = buf.find(b"</DeleteCitation>", i, cut)
        if j < 0:
            break
        deletes.append(buf[i:j + len(b"</DeleteCitation>")])
        i = buf.find(b"<DeleteCitation", j, cut)
    if not spans and not deletes:
        return
    parts = [buf[s:spans[s]] for s in sorted(spans)]
    scan.kept += len(parts)
    try:
        if parts:
            yield from iter_records(_wrap(prolog, closing, parts))
        if deletes:
            for _ in iter_records(_wrap(prolog, closing, deletes), on_deleted=scan.deleted.extend):
                pass
    except BadResponse as exc:
        raise InputError(f"{path.name}: a kept record does not parse ({exc}); the file is damaged") from None


# --------------------------------------------------------------------------- paths

def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, directories as their ``pubmed*.xml[.gz]`` files; sorted by name, de-duplicated."""
    out: dict[str, Path] = {}
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(x for x in p.iterdir()
                           if x.is_file() and x.name.startswith("pubmed") and x.name.endswith((".xml", ".xml.gz")))
            if not found:
                raise InputError(f"{p} holds no pubmed*.xml.gz files")
            for f in found:
                out.setdefault(str(f.resolve()), f)
        elif p.is_file():
            out.setdefault(str(p.resolve()), p)
        else:
            raise InputError(f"no such file {str(p)!r}")
    return sorted(out.values(), key=lambda x: (x.name, str(x)))


# --------------------------------------------------------------------------- analyse (worker side)

@dataclass
class FileResult:
    """What a worker hands back for one file: the kept records, already assessed, and counts."""

    path: str
    sha256: str
    skipped: bool = False
    records: int = 0
    topic: int = 0
    matched: int = 0
    articles: tuple = ()
    assessments: tuple = ()
    deleted: tuple = ()
    bytes_in: int = 0
    seconds: float = 0.0

    def counts(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "skipped": self.skipped, "records": self.records,
                "topic": self.topic, "matched": self.matched, "deleted_in_file": len(self.deleted),
                "bytes": self.bytes_in, "scan_seconds": round(self.seconds, 3)}


def analyse_file(path: str | os.PathLike, stored: Iterable[str] = (), skip: Iterable[str] = (),
                 assess: bool = True) -> FileResult:
    """Scan, parse and assess one file without touching the database (runs on any worker).

    ``stored``: PMIDs already in the store (their records are kept even off-topic). ``skip``:
    SHA-256 checksums already processed; such a file comes back with ``skipped=True`` unread.
    """
    t0 = time.perf_counter()
    sha = sha256_file(path)
    if sha in set(skip):
        return FileResult(path=str(path), sha256=sha, skipped=True, seconds=time.perf_counter() - t0)
    scan = FileScan(sha256=sha)
    articles = tuple(scan_file(path, stored, scan))
    assessments = tuple(assessor.assess(a) for a in articles) if assess else ()
    return FileResult(path=str(path), sha256=sha, records=scan.records, topic=scan.topic, matched=len(articles),
                      articles=articles, assessments=assessments, deleted=tuple(scan.deleted),
                      bytes_in=scan.bytes_in, seconds=time.perf_counter() - t0)


def processed_checksums(store) -> set[str]:
    """SHA-256 of every file already in ``processed_files``."""
    return {r[0] for r in store.db.execute("SELECT sha256 FROM processed_files")}


# --------------------------------------------------------------------------- store (one writer)

def _latest(articles: Iterable[Article]) -> list[Article]:
    """One article per PMID: the highest version, the later one on ties (document order kept)."""
    best: dict[str, Article] = {}
    for a in articles:
        prev = best.get(a.pmid)
        if prev is None or a.version >= prev.version:
            best.pop(a.pmid, None)
            best[a.pmid] = a
    return list(best.values())


def _add(totals: dict, counts: dict) -> None:
    for k, v in counts.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            totals[k] = totals.get(k, 0) + v


def store_result(store, result: FileResult, run_id: Optional[int], batch_size: int = 500) -> dict:
    """Write one analysed file: batches of ``batch_size``; the last one + deletions + the file's log
    line in one transaction. Returns the store counts (new/updated/unchanged/older/deleted/assessed)."""
    totals: dict = {}
    if result.skipped:
        return {"skipped": 1}
    if store.file_processed(result.sha256):
        log.info("%s: already ingested by another run meanwhile; not written again", result.path)
        return {"skipped": 1}
    from .pipeline import store_batch

    # The worker's assessments, used by store_batch only if this assessor version made them.
    assessed = {(a.pmid, a.version): x for a, x in zip(result.articles, result.assessments)}
    articles = _latest(result.articles)
    size = max(1, int(batch_size))
    last = max(0, (len(articles) - 1) // size * size)
    for i in range(0, last, size):
        _add(totals, store_batch(store, tuple(articles[i:i + size]), (), run_id, assessed=assessed))
    with store.atomic():
        _add(totals, store_batch(store, tuple(articles[last:]), tuple(result.deleted), run_id, assessed=assessed))
        store.record_file(result.sha256, result.path, result.records, result.matched, totals.get("deleted", 0),
                          run_id)
    return totals


def ingest_file(settings: Settings, path: str | os.PathLike, run_id: Optional[int], *, store=None,
                progress=None) -> dict:
    """Ingest one baseline/update file into the store, streaming (memory stays flat).

    Skipped (``{"skipped": True}``) when its SHA-256 is already in ``processed_files``. Otherwise the
    kept records go through ``pipeline.store_batch`` in batches of ``settings.batch_size``; the last
    batch, the DeleteCitation flags and the file's ``record_file`` line commit in one transaction.
    """
    from .pipeline import store_batch
    from .store import Store

    own = store is None
    store = store if store is not None else Store(settings.db)
    t0 = time.perf_counter()
    path = Path(path)
    try:
        sha = sha256_file(path)
        out = {"path": str(path), "sha256": sha, "skipped": False, "records": 0, "topic": 0, "matched": 0}
        if store.file_processed(sha):
            log.info("%s: skipped, already ingested (sha256 %s)", path.name, sha[:12])
            out.update(skipped=True, seconds=round(time.perf_counter() - t0, 3))
            return out
        scan = FileScan(sha256=sha)
        totals: dict = {}
        size = max(1, int(settings.batch_size))
        batch: list[Article] = []
        seen = 0
        for article in scan_file(path, store.pmids(include_deleted=True), scan):
            batch.append(article)
            if len(batch) > size:  # keep one back: the last batch commits with the file's log line
                _add(totals, store_batch(store, tuple(_latest(batch[:size])), (), run_id))
                batch = batch[size:]
            if progress is not None and scan.records > seen:
                progress.advance(scan.records - seen, matched=scan.kept)
                seen = scan.records
        with store.atomic():
            _add(totals, store_batch(store, tuple(_latest(batch)), tuple(scan.deleted), run_id))
            store.record_file(sha, str(path), scan.records, scan.kept, totals.get("deleted", 0), run_id)
        if progress is not None and scan.records > seen:
            progress.advance(scan.records - seen, matched=scan.kept)
        out.update(records=scan.records, topic=scan.topic, matched=scan.kept, deleted_in_file=len(scan.deleted),
                   bytes=scan.bytes_in, **totals)
        out["seconds"] = round(time.perf_counter() - t0, 3)
        log.info("%s: %d records, %d on topic, %d kept, %d deleted in file (%.1f s)", path.name, scan.records,
                 scan.topic, scan.kept, len(scan.deleted), out["seconds"])
        return out
    finally:
        if own:
            store.close()


# --------------------------------------------------------------------------- a run (this module and the flow)

class IngestRun:
    """An ``ingest`` run while its files are written: the store, the run id, the totals, the progress bar.

    Made by :func:`ingest_run`; what writes the files (in-process, a process pool, the Prefect flow)
    reports each file here, so all three keep the same totals and progress.
    """

    def __init__(self, settings: Settings, store, run_id: int, files: list[Path], totals: dict, bar,
                 on_file: Optional[Callable[[dict], None]] = None):
        self.settings, self.store, self.run_id, self.files = settings, store, run_id, files
        self.totals, self.bar, self.on_file = totals, bar, on_file

    def for_workers(self) -> tuple[frozenset, frozenset]:
        """What :func:`analyse_file` needs from the store: the stored PMIDs and the processed checksums."""
        return frozenset(self.store.pmids(include_deleted=True)), frozenset(processed_checksums(self.store))

    def count(self, r: dict) -> None:
        """Add one file's counts to the run's totals and hand them to ``on_file``."""
        self.totals["skipped"] += int(bool(r.get("skipped")))
        for k in ("records", "matched", "new", "updated", "unchanged", "older", "deleted", "assessed"):
            if isinstance(r.get(k), int):
                self.totals[k] = self.totals.get(k, 0) + r[k]
        if self.on_file is not None:
            self.on_file(r)

    def write(self, res: FileResult) -> dict:
        """Store one analysed file (:func:`store_result`), advance the bar and count it; its counts.

        Call it in file-name order: a later file's update or DeleteCitation must land after the record
        it changes, whatever order the workers finish in.
        """
        t0 = time.perf_counter()
        counts = store_result(self.store, res, self.run_id, self.settings.batch_size)
        r = {**res.counts(), **counts, "skipped": res.skipped or bool(counts.get("skipped")),
             "write_seconds": round(time.perf_counter() - t0, 3)}
        self.bar.advance(res.records, matched=res.matched)
        self.count(r)
        return r


def ingest_run(settings: Settings, paths: Sequence[str | os.PathLike], work: Callable[[IngestRun], None], *,
               trigger: str, flow_run_id: Optional[str] = None, on_file: Optional[Callable[[dict], None]] = None,
               recorded_errors: type[BaseException] | tuple[type[BaseException], ...] = LdnError) -> dict:
    """Run ``work(run)`` over the files ``paths`` expands to as one ``ingest`` run in ``runs``; its totals.

    The run row is finished whatever happens: "succeeded", or "failed" (with the totals so far) when
    ``work`` raises. Only the message of a ``recorded_errors`` exception is written as the run's
    error: an LdnError's is one actionable line; other exceptions are left to the traceback.
    """
    from .progress import Progress
    from .store import Store

    files = expand_paths(paths)
    totals: dict = {"files": len(files), "skipped": 0, "records": 0, "matched": 0}
    t0 = time.perf_counter()
    with Store(settings.db) as store:
        run_id = store.start_run("ingest", trigger, flow_run_id=flow_run_id)
        status, error = "failed", None
        try:
            with Progress("ingest-files", log) as bar:
                work(IngestRun(settings, store, run_id, files, totals, bar, on_file))
            status = "succeeded"
        except recorded_errors as exc:
            error = str(exc)
            raise
        finally:
            totals["seconds"] = round(time.perf_counter() - t0, 3)
            store.finish_run(run_id, status, totals, error=error)
    totals["run_id"] = run_id
    return totals


# --------------------------------------------------------------------------- without Prefect

def ingest_paths(settings: Settings, paths: Sequence[str | os.PathLike], *, workers: int = 1,
                 trigger: str = "cli", on_file: Optional[Callable[[dict], None]] = None) -> dict:
    """Ingest files in name order without Prefect: in-process (workers=1, streaming) or with a local
    process pool (workers>1: files analysed in parallel, written here in name order)."""
    work = _in_process if workers <= 1 else functools.partial(_pool, workers=workers)
    return ingest_run(settings, paths, work, trigger=trigger, on_file=on_file)


def _in_process(run: IngestRun) -> None:
    for f in run.files:
        run.count(ingest_file(run.settings, f, run.run_id, store=run.store, progress=run.bar))


def _pool(run: IngestRun, workers: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    stored, skip = run.for_workers()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(analyse_file, str(f), stored, skip) for f in run.files]
        for fut in futures:  # name order, see IngestRun.write
            run.write(fut.result())


# --------------------------------------------------------------------------- CLI

def _print_file(r: dict) -> None:
    name = Path(r["path"]).name
    if r.get("skipped"):
        print(f"  {name}: skipped, already ingested (sha256 {r['sha256'][:12]}…)")
        return
    print(f"  {name}: {r.get('records', 0)} records, {r.get('topic', 0)} on topic, {r.get('matched', 0)} kept "
          f"(new {r.get('new', 0)}, updated {r.get('updated', 0)}, unchanged {r.get('unchanged', 0)}), "
          f"{r.get('deleted', 0)} deleted")


def _summary(totals: dict, db) -> None:
    secs = max(totals.get("seconds", 0.0), 1e-9)
    done = totals["files"] - totals["skipped"]
    print(f"ingested {done} file(s), skipped {totals['skipped']} already done: {totals['records']} records "
          f"scanned, {totals['matched']} kept (new {totals.get('new', 0)}, updated {totals.get('updated', 0)}, "
          f"deleted {totals.get('deleted', 0)}) in {secs:.1f} s — {done / secs * 60:.1f} files/min, "
          f"{totals['records'] / secs:.0f} records/s")
    print(f"  run {totals.get('run_id')}; database: {db}")


def cmd_ingest_files(args, _settings) -> int:
    settings = _settings(args)
    if args.dask_address:
        settings = settings.replace(dask_address=args.dask_address)
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    paths = expand_paths(args.paths)
    print(f"{len(paths)} file(s) into {settings.db}")
    if args.no_prefect:
        if settings.dask_address:
            raise InputError("--dask-address needs Prefect (drop --no-prefect)")
        totals = ingest_paths(settings, paths, workers=args.workers, on_file=_print_file)
    else:
        from . import cli

        cli._prefect_env()
        from flows.ingest import run_ingest

        totals = run_ingest([str(p) for p in paths], workers=args.workers, dask_address=settings.dask_address,
                            settings=settings, trigger="cli")
        for r in totals.pop("file_results", []):
            _print_file(r)
    _summary(totals, settings.db)
    return 0


def add_cli(sub, _cmd, _settings) -> None:
    p = _cmd(sub, "ingest-files", lambda args: cmd_ingest_files(args, _settings),
             "Ingest PubMed baseline/update files (pubmedYYnNNNN.xml.gz): keep naltrexone records, honour "
             "DeleteCitation and PMID versions, skip files already ingested (by SHA-256).",
             "ldn-monitor ingest-files data/baseline/pubmed25n*.xml.gz --workers 2\n"
             "  ldn-monitor ingest-files data/updatefiles/ --dask-address tcp://scheduler:8786")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders of pubmed*.xml[.gz] files")
    p.add_argument("--workers", type=int, default=1,
                   help="parallel workers; above 1 the flow runs on a local Dask cluster (default 1)")
    p.add_argument("--dask-address", metavar="ADDR",
                   help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (default $LDN_DASK_ADDRESS)")
    p.add_argument("--no-prefect", action="store_true",
                   help="run without Prefect (in-process; --workers N uses a local process pool)")
    p.add_argument("--db", help="SQLite file (default $LDN_DB or data/ldn-monitor.db)")
