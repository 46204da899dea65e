"""An E-utilities replay server: PubMed's ESearch/EFetch served from a local snapshot, on 127.0.0.1.

Why it exists: the client must be tested against real HTTP (keep-alive, timeouts, dropped sockets, 429s)
without touching NCBI, and the monitor must be runnable end to end offline. The server speaks just enough
of the protocol to be indistinguishable from PubMed for ldn-monitor's purposes:

- ``esearch.fcgi`` (GET or POST): ``db=pubmed``, ``term``, ``datetype=edat`` with ``mindate``/``maxdate``
  (``YYYY``, ``YYYY/MM``, ``YYYY/MM/DD``, inclusive) or ``reldate=N``, ``retstart``, ``retmax``
  (default 20, at most 10,000), ``usehistory=y`` (WebEnv + QueryKey kept server-side), ``retmode=json``.
  Ids come sorted like PubMed's default (most recent Entrez date first, then PMID descending) and, like
  PubMed, no id past the first ``max_esearch_ids`` (9,999) is ever listed.
- ``efetch.fcgi`` (GET or POST form): ``db=pubmed``, ``retmode=xml``, either ``id=1,2,3`` or
  ``WebEnv`` + ``query_key`` with ``retstart``/``retmax``. An unknown WebEnv gets NCBI's own answer:
  HTTP 200 with ``<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>``.

Term conventions (the snapshot *is* the subject set, so any ordinary term matches all of it):

- a term containing ``NOTHING_MATCHES`` gets 0 hits, shaped like PubMed's "phrase not found" answer;
- ``12345[pmid]`` / ``12345[uid]`` tokens restrict the hits to those PMIDs (OR-ed);
- an empty term gets NCBI's ``<ERROR>Empty term and query_key - nothing todo</ERROR>``.

Snapshot: every ``*.xml`` / ``*.xml.gz`` in the directory holding a ``PubmedArticleSet``, read in file-name
order; each ``PubmedArticle``/``PubmedBookArticle`` is kept verbatim, indexed by PMID with its Entrez date
(History ``PubStatus="entrez"``, else ``"pubmed"``). A later file or a higher ``Version`` replaces an earlier
record; a ``DeleteCitation`` inside a file and an optional ``deleted.txt`` (one PMID per line) delete
records: deleted PMIDs are not searchable and come back inside ``<DeleteCitation>`` when fetched by id.

Faults (``inject(kind, times=1, endpoint=None)``; consumed FIFO, an entry with ``endpoint=None`` matches any
route, ``count_mismatch`` defaults to ``esearch``): see :data:`FAULTS`.

In a test::

    with ReplayServer(tmp_path) as server:
        client = PubMedClient(Settings(eutils_url=server.url, ...))

Standalone: ``python -m ldn_monitor.replay --snapshot data/snapshot --port 8765``.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import logging
import random
import re
import secrets
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable, Optional
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from lxml import etree

from .pubmed import entrez_day

log = logging.getLogger("ldn_monitor.replay")

EUTILS_PREFIX = "/entrez/eutils/"
NOTHING_MATCHES = "NOTHING_MATCHES"

# Every fault the server can inject, and what the client sees.
FAULTS = {
    "429": "HTTP 429 with NCBI's JSON body {\"error\":\"API rate limit exceeded\",\"count\":\"11\"}",
    "500": "HTTP 500",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "504": "HTTP 504",
    "error_body": "HTTP 200 whose body is an <ERROR> (eSearchResult / eFetchResult)",
    "html": "HTTP 200 with an HTML error page",
    "truncated": "HTTP 200, the normal body cut in half (valid start, ends mid-record)",
    "malformed": "HTTP 200, the normal body with a mismatched end tag",
    "slow": "answers normally after slow_seconds (longer than a short client read timeout)",
    "drop": "closes the connection without any response",
    "expire_webenv": "forgets every WebEnv, then answers normally (EFetch by history then fails)",
    "count_mismatch": "ESearch Count is count_mismatch_extra more than the ids it can deliver",
}
# Faults a client is expected to ride out; the default mix for random_faults (soak tests).
TRANSIENT_FAULTS = ("429", "500", "502", "503", "504", "error_body", "html", "truncated", "malformed", "drop")

_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)

_ESEARCH_DOCTYPE = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
_EFETCH_ERROR_DOCTYPE = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<!DOCTYPE eFetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
)
_PUBMED_HEAD = (
    b'<?xml version="1.0" ?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    b"<PubmedArticleSet>\n"
)
_PUBMED_TAIL = b"</PubmedArticleSet>\n"
_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>NCBI - WWW Error 500 Diagnostic</title></head>\n"
    b"<body><h1>Error occurred</h1><p>The server encountered an internal error or misconfiguration "
    b"and was unable to complete your request.</p></body></html>\n"
)
# A real transient NCBI error text; deliberately not one that reads as "history expired".
_BACKEND_ERROR = "Search Backend failed: Couldn't resolve #exec_pm_search, the address table is empty."

XML = "text/xml; charset=UTF-8"
JSON = "application/json; charset=UTF-8"
HTML = "text/html; charset=UTF-8"

Handler = Callable[[str, str, dict], tuple]  # (method, path, params) -> (status, content_type, body)
_DROP = object()  # a handler result meaning "close the socket without answering"


@dataclass(frozen=True)
class _Record:
    pmid: str
    version: int
    edat: tuple  # (year, month, day, hour, minute): sort key and date filter
    xml: bytes
    source: str

    @property
    def edate(self) -> date:
        return date(*self.edat[:3])


@dataclass
class _Fault:
    kind: str
    remaining: int
    endpoint: Optional[str]


@dataclass(frozen=True)
class _Route:
    prefix: str
    handler: Handler
    name: str


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a "slow" handler must not hold up stop()
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        self.open_sockets: set = set()
        self._sockets_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can hang without a resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        with self._sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_sockets(self):
        """Hang up keep-alive connections: a stopped server must refuse, not answer on an old socket."""
        with self._sockets_lock:
            socks, self.open_sockets = list(self.open_sockets), set()
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client that timed out and hung up is the expected outcome of several faults, not news.
        log.debug("replay: connection from %s ended with an error", client_address, exc_info=True)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like NCBI: the client's connection pool is exercised
    server_version = "ldn-replay/1"

    def setup(self):
        super().setup()
        # Headers and body go out as two writes; with Nagle on, the body waits for the client's delayed ACK
        # (~40 ms a request on loopback). NCBI does not make us wait, so neither should the replay.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def log_message(self, fmt, *args):  # quiet: tests read server.requests, not stderr
        # The request line carries the client's api_key: keep it out of the log like the client does.
        log.debug("replay: %s", re.sub(r"(api_key=)[^&\s]+", r"\1***", fmt % args))

    def _dispatch(self, method: str) -> None:
        replay: ReplayServer = self.server.replay  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            if "application/x-www-form-urlencoded" in ctype or not ctype:
                form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
                params.update({k: v[-1] for k, v in form.items()})
        try:
            result = replay._serve(method, split.path, params)
        except Exception:  # a bug in a handler must show up as a 500, not as a hung client
            log.exception("replay: handler failed for %s %s", method, split.path)
            result = (500, "text/plain; charset=UTF-8", b"replay server: handler raised\n")
        if result is _DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, ctype, body = result
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (read timeout): nothing to do


class ReplayServer:
    """PubMed E-utilities on 127.0.0.1 from a snapshot directory. Use as a context manager."""

    def __init__(
        self,
        snapshot_dir: Optional[str | Path] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_esearch_ids: int = 9999,
        rate_limit: Optional[float] = None,
        slow_seconds: float = 2.0,
        count_mismatch_extra: int = 1,
        today: Optional[Callable[[], date]] = None,
    ):
        # Loopback only: this server serves whatever is in the snapshot to anyone who asks.
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"ReplayServer binds 127.0.0.1 only, not {host!r}")
        if max_esearch_ids < 1:
            raise ValueError("max_esearch_ids must be at least 1")
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else None
        self.host = "127.0.0.1"
        self.port = port
        self.max_esearch_ids = max_esearch_ids
        self.rate_limit = rate_limit
        self.slow_seconds = slow_seconds
        self.count_mismatch_extra = count_mismatch_extra
        self.today = today or date.today
        self.requests: list[tuple[str, dict]] = []  # (path, params) of every request received
        self.request_log: list[tuple[str, str, dict]] = []  # (method, path, params): for GET vs POST checks
        self.faults_injected = 0
        self.faults_log: list[tuple[str, str]] = []  # (endpoint, fault kind), in order
        self.rate_limited = 0  # real 429s from rate_limit, not counted as injected faults
        self._lock = threading.RLock()
        self._records: dict[str, _Record] = {}
        self._order: tuple[_Record, ...] = ()
        self._deleted: set[str] = set()
        self._history: dict[str, dict[str, tuple[str, ...]]] = {}
        self._faults: list[_Fault] = []
        self._random: Optional[tuple[float, random.Random, tuple[str, ...]]] = None
        self._recent: collections.deque = collections.deque()
        self._stopping = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._routes: list[_Route] = []
        self.add_route(EUTILS_PREFIX, self._eutils, name="eutils")
        self.reload()

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> "ReplayServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), _RequestHandler)
        self._httpd.replay = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            # A short poll: stop() waits up to one interval, and tests start and stop many servers.
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name=f"replay:{self.port}", daemon=True
        )
        self._thread.start()
        log.info("replay server on %s (%d records)", self.url, len(self._records))
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wake "slow" handlers
        httpd.shutdown()
        httpd.server_close()
        httpd.close_open_sockets()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The E-utilities base URL, for ``Settings.eutils_url``."""
        return self.base + EUTILS_PREFIX

    # ----------------------------------------------------------------- snapshot
    def reload(self) -> int:
        """Re-read the snapshot directory (tests add records between runs). Returns the record count."""
        records: dict[str, _Record] = {}
        deleted: set[str] = set()
        if self.snapshot_dir is not None:
            if self.snapshot_dir.is_file():
                files = [self.snapshot_dir]
            else:
                files = sorted(
                    [*self.snapshot_dir.glob("*.xml"), *self.snapshot_dir.glob("*.xml.gz")], key=lambda p: p.name
                )
            for path in files:
                for kind, value in _read_snapshot_file(path):
                    if kind == "record":
                        old = records.get(value.pmid)
                        if old is None or value.version >= old.version:
                            records[value.pmid] = value
                        deleted.discard(value.pmid)
                    else:
                        records.pop(value, None)
                        deleted.add(value)
            dfile = (self.snapshot_dir if self.snapshot_dir.is_dir() else self.snapshot_dir.parent) / "deleted.txt"
            if dfile.exists():
                for line in dfile.read_text(encoding="utf-8").splitlines():
                    pmid = line.split("#", 1)[0].strip()
                    if pmid:
                        records.pop(pmid, None)
                        deleted.add(pmid)
        order = tuple(sorted(records.values(), key=self._order_key, reverse=True))
        with self._lock:
            self._records = records
            self._deleted = deleted
            self._order = order  # sorted once here, not on every ESearch (soak snapshots can be large)
        return len(records)

    @property
    def pmids(self) -> list[str]:
        """Every searchable PMID, in PubMed's default order."""
        return [r.pmid for r in self._order]

    # ----------------------------------------------------------------- faults
    def inject(self, fault: str, times: int = 1, endpoint: Optional[str] = None) -> None:
        """Queue ``fault`` for the next ``times`` requests to ``endpoint``.

        ``endpoint`` is ``"esearch"``, ``"efetch"``, a route name from :meth:`add_route`, or None (any request).
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if fault == "count_mismatch" and endpoint is None:
            endpoint = "esearch"  # it means nothing anywhere else; don't let an EFetch swallow it
        with self._lock:
            self._faults.append(_Fault(fault, times, endpoint))

    def random_faults(self, p: float, seed: int = 0, kinds: Iterable[str] = TRANSIENT_FAULTS) -> None:
        """From now on, each request gets a fault with probability ``p`` (kind drawn from ``kinds``), seeded."""
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in FAULTS]
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {unknown!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._random = (float(p), random.Random(seed), kinds) if p > 0 else None

    def clear_faults(self) -> None:
        """Drop queued faults and stop random ones."""
        with self._lock:
            self._faults.clear()
            self._random = None

    @property
    def pending_faults(self) -> list[tuple[str, int, Optional[str]]]:
        with self._lock:
            return [(f.kind, f.remaining, f.endpoint) for f in self._faults]

    def _next_fault(self, endpoint: str) -> Optional[str]:
        with self._lock:
            for f in self._faults:
                if f.endpoint is None or f.endpoint == endpoint:
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self._faults.remove(f)
                    kind = f.kind
                    break
            else:
                kind = None
                if self._random is not None:
                    p, rng, kinds = self._random
                    if rng.random() < p:
                        kind = rng.choice(kinds)
            if kind is not None:
                self.faults_injected += 1
                self.faults_log.append((endpoint, kind))
            return kind

    # ----------------------------------------------------------------- routing
    def add_route(self, prefix: str, handler: Handler, name: Optional[str] = None) -> None:
        """Mount ``handler(method, path, params) -> (status, content_type, body)`` under ``prefix``.

        Faults injected with ``endpoint=name`` (default: the prefix) or ``endpoint=None`` apply to it.
        The longest matching prefix wins.
        """
        if not prefix.startswith("/"):
            raise ValueError("a route prefix starts with '/'")
        with self._lock:
            self._routes = [r for r in self._routes if r.prefix != prefix]
            self._routes.append(_Route(prefix, handler, name or prefix))
            self._routes.sort(key=lambda r: len(r.prefix), reverse=True)

    @property
    def routes(self) -> dict[str, str]:
        """Routes mounted with :meth:`add_route` (prefix -> name), E-utilities excluded: empty = PubMed only."""
        return {r.prefix: r.name for r in self._routes if r.prefix != EUTILS_PREFIX}

    def _serve(self, method: str, path: str, params: dict):
        with self._lock:
            self.requests.append((path, dict(params)))
            self.request_log.append((method, path, dict(params)))
        route = next((r for r in self._routes if path.startswith(r.prefix)), None)
        if route is None:
            return 404, "text/plain; charset=UTF-8", b"Not Found\n"
        endpoint = route.name
        if route.handler == self._eutils:
            endpoint = path[len(route.prefix):].split(".", 1)[0] or "eutils"
        if self._over_rate_limit():
            return 429, JSON, b'{"error":"API rate limit exceeded","count":"%d"}' % (int(self.rate_limit or 0) + 1)
        fault = self._next_fault(endpoint)
        if fault is not None:
            log.debug("replay: fault %s on %s", fault, endpoint)
        if fault == "429":
            return 429, JSON, b'{"error":"API rate limit exceeded","count":"11"}'
        if fault in ("500", "502", "503", "504"):
            code = int(fault)
            return code, HTML, b"<html><body><h1>%d Server Error</h1></body></html>\n" % code
        if fault == "html":
            return 200, HTML, _HTML_PAGE
        if fault == "drop":
            return _DROP
        if fault == "error_body":
            return 200, XML, _error_doc(endpoint, _BACKEND_ERROR)
        if fault == "slow":
            self._stopping.wait(self.slow_seconds)
        if fault == "expire_webenv":
            with self._lock:
                self._history.clear()
        if route.handler == self._eutils:
            status, ctype, body = self._eutils(method, path, params, count_extra=(
                self.count_mismatch_extra if fault == "count_mismatch" else 0))
        else:
            status, ctype, body = route.handler(method, path, params)
        if fault == "truncated":
            body = body[: max(1, len(body) // 2)]
        elif fault == "malformed":
            body = body.replace(b"</", b"</x-", 1) if b"</" in body else b"<" + body
        return status, ctype, body

    def _over_rate_limit(self) -> bool:
        if not self.rate_limit:
            return False
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                self.rate_limited += 1
                return True
            self._recent.append(now)
            return False

    # ----------------------------------------------------------------- E-utilities
    def _eutils(self, method: str, path: str, params: dict, count_extra: int = 0):
        util = path[len(EUTILS_PREFIX):]
        if util in ("esearch.fcgi", "esearch"):
            return self._esearch(params, count_extra)
        if util in ("efetch.fcgi", "efetch"):
            return self._efetch(params)
        return 404, "text/plain; charset=UTF-8", f"replay server: no E-utility {util!r}\n".encode()

    @staticmethod
    def _order_key(r: _Record) -> tuple:
        # PubMed's default ESearch order (reversed): most recent Entrez date first, then PMID descending.
        return (r.edat, int(r.pmid))

    def _esearch(self, params: dict, count_extra: int):
        as_json = params.get("retmode", "xml").lower() == "json"

        def error(msg: str):
            if as_json:
                body = {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {"ERROR": msg}}
                return 200, JSON, json.dumps(body).encode()
            return 200, XML, _error_doc("esearch", msg)

        db = params.get("db", "pubmed")
        if db != "pubmed":
            return error(f"Invalid db name specified: {db}")
        term = params.get("term", "").strip()
        if not term:
            return error("Empty term and query_key - nothing todo")
        try:
            retstart = int(params.get("retstart", 0) or 0)
            retmax = int(params.get("retmax", 20) if params.get("retmax", "") != "" else 20)
        except ValueError:
            return error("Invalid retstart or retmax value")
        retmax = max(0, min(retmax, 10000))
        window = None
        mindate, maxdate, reldate = params.get("mindate"), params.get("maxdate"), params.get("reldate")
        if mindate or maxdate:
            if not (mindate and maxdate):
                return error("Both mindate and maxdate must be specified for a date range")
            lo, hi = _parse_date(mindate, end=False), _parse_date(maxdate, end=True)
            if lo is None or hi is None:
                return error(f"Invalid date format: mindate={mindate} maxdate={maxdate}; use YYYY/MM/DD")
            window = (lo, hi)
        elif reldate:
            try:
                days = int(reldate)
            except ValueError:
                return error(f"Invalid reldate value: {reldate}")
            today = self.today()
            window = (today - timedelta(days=days), today)
        if window is not None:
            datetype = params.get("datetype", "edat").lower()
            if datetype not in ("edat", "entrez"):
                return error(f"replay server: datetype={datetype} is not supported (it indexes edat only)")

        with self._lock:
            records = self._order
        warnings_not_found = None
        if NOTHING_MATCHES in term:
            hits: list[_Record] = []
            warnings_not_found = NOTHING_MATCHES
        else:
            wanted = set(re.findall(r"(\d+)\s*\[(?:pmid|uid)\]", term, re.I))
            hits = [r for r in records if not wanted or r.pmid in wanted]
        if window is not None:
            hits = [r for r in hits if window[0] <= r.edate <= window[1]]
        ids = tuple(r.pmid for r in hits)  # still in PubMed's order: filtering keeps it

        if retstart >= self.max_esearch_ids and retstart > 0:
            return error(_retstart_message(self.max_esearch_ids))
        page = ids[retstart: min(retstart + retmax, self.max_esearch_ids)]

        webenv = query_key = None
        if params.get("usehistory", "").lower() == "y":
            with self._lock:
                webenv = params.get("WebEnv") if params.get("WebEnv") in self._history else None
                if webenv is None:
                    webenv = "MCID_" + secrets.token_hex(12)
                    self._history[webenv] = {}
                query_key = str(len(self._history[webenv]) + 1)
                self._history[webenv][query_key] = ids

        translation = term
        if window is not None:
            translation = f"{term} AND {window[0]:%Y/%m/%d}:{window[1]:%Y/%m/%d}[Date - Entry]"
        count = len(ids) + count_extra

        if as_json:
            res = {
                "count": str(count), "retmax": str(len(page)), "retstart": str(retstart),
                "idlist": list(page), "translationset": [], "querytranslation": translation,
            }
            if webenv:
                res["querykey"], res["webenv"] = query_key, webenv
            if warnings_not_found:
                res["errorlist"] = {"phrasesnotfound": [warnings_not_found], "fieldsnotfound": []}
                res["warninglist"] = {"phrasesignored": [], "quotedphrasesnotfound": [],
                                      "outputmessages": ["No items found."]}
            body = {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": res}
            return 200, JSON, json.dumps(body).encode()

        # Shaped exactly like a real answer (shared/eutils-samples/esearch2.xml, esearch8.xml).
        parts = [f"<eSearchResult><Count>{count}</Count><RetMax>{len(page)}</RetMax><RetStart>{retstart}</RetStart>"]
        if webenv:
            parts.append(f"<QueryKey>{query_key}</QueryKey><WebEnv>{webenv}</WebEnv>")
        if page:
            parts.append("<IdList>\n" + "".join(f"<Id>{i}</Id>\n" for i in page) + "</IdList>")
        else:
            parts.append("<IdList/>")
        parts.append(f"<TranslationSet/><QueryTranslation>{escape(translation)}</QueryTranslation>")
        if warnings_not_found:
            parts.append(f"<ErrorList><PhraseNotFound>{escape(warnings_not_found)}</PhraseNotFound></ErrorList>"
                         "<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>")
        parts.append("</eSearchResult>\n")
        return 200, XML, _ESEARCH_DOCTYPE + "".join(parts).encode("utf-8")

    def _efetch(self, params: dict):
        def error(msg: str):
            return 200, XML, _error_doc("efetch", msg)

        db = params.get("db", "pubmed")
        if db != "pubmed":
            return error(f"Invalid db name specified: {db}")
        retmode = params.get("retmode", "xml").lower()
        if retmode not in ("", "xml"):
            return error(f"replay server: retmode={retmode} is not supported (xml only)")
        if params.get("id", "").strip():
            ids = [i for i in re.split(r"[,\s]+", params["id"].strip()) if i]
            bad = [i for i in ids if not i.isdigit()]
            if bad:
                return error(f"Invalid uid {bad[0]} at position {ids.index(bad[0])}")
        elif params.get("WebEnv") and params.get("query_key"):
            with self._lock:
                stored = self._history.get(params["WebEnv"], {}).get(params["query_key"])
            if stored is None:
                return error(f"Unable to obtain query #{params['query_key']}")
            try:
                retstart = int(params.get("retstart", 0) or 0)
                retmax = int(params.get("retmax", 20) or 20)
            except ValueError:
                return error("Invalid retstart or retmax value")
            if retstart >= self.max_esearch_ids and retstart > 0:
                return error(_retstart_message(self.max_esearch_ids))
            ids = list(stored[retstart: min(retstart + max(0, min(retmax, 10000)), self.max_esearch_ids)])
        else:
            return error("Empty id list - nothing todo")
        with self._lock:
            records, deleted_set = self._records, self._deleted
        found, deleted = [], []
        for pmid in ids:
            if pmid in records:
                found.append(records[pmid].xml)
            elif pmid in deleted_set:
                deleted.append(pmid)
            # unknown PMIDs are simply absent, as on PubMed
        body = _PUBMED_HEAD + b"\n".join(found) + (b"\n" if found else b"")
        if deleted:
            body += b"<DeleteCitation>" + b"".join(b'<PMID Version="1">%s</PMID>' % p.encode() for p in deleted)
            body += b"</DeleteCitation>\n"
        return 200, XML, body + _PUBMED_TAIL


def _retstart_message(cap: int) -> str:
    # NCBI's own wording (since 2022), with the cap this server was given.
    return (f"Search Backend failed: Exception:\n'retstart' cannot be larger than {cap - 1}. For PubMed, "
            f"ESearch can only retrieve the first {cap} records matching the query.")


def _error_doc(endpoint: str, msg: str) -> bytes:
    if endpoint == "efetch":
        return _EFETCH_ERROR_DOCTYPE + f"<eFetchResult>\n\t<ERROR>{escape(msg)}</ERROR>\n</eFetchResult>\n".encode()
    if endpoint == "esearch":
        return _ESEARCH_DOCTYPE + f"<eSearchResult><ERROR>{escape(msg)}</ERROR></eSearchResult>\n".encode()
    return f'<?xml version="1.0" encoding="UTF-8" ?>\n<ERROR>{escape(msg)}</ERROR>\n'.encode()


def _parse_date(text: str, end: bool) -> Optional[date]:
    """An Entrez date bound as the client reads it (one parser for both sides), or None if invalid."""
    try:
        return entrez_day(text, end)
    except ValueError:
        return None


def _history_date(history, status: str) -> Optional[tuple]:
    if history is None:
        return None
    node = history.find(f'PubMedPubDate[@PubStatus="{status}"]')
    if node is None:
        return None
    try:
        return tuple(int((node.findtext(t) or "0").strip() or 0) for t in ("Year", "Month", "Day", "Hour", "Minute"))
    except ValueError:
        return None


def _read_snapshot_file(path: Path):
    """Yield ("record", _Record) and ("deleted", pmid) from one PubmedArticleSet file, in document order."""
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    try:
        root = etree.fromstring(raw, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"snapshot file {path} is not well-formed XML: {exc}") from None
    if root.tag != "PubmedArticleSet":
        log.warning("replay: skipping %s: it holds <%s>, not a PubmedArticleSet", path, root.tag)
        return
    for elem in root:
        if elem.tag == "PubmedArticle":
            pmid_el = elem.find("MedlineCitation/PMID")
            history = elem.find("PubmedData/History")
        elif elem.tag == "PubmedBookArticle":
            pmid_el = elem.find("BookDocument/PMID")
            history = elem.find("PubmedBookData/History")
        elif elem.tag == "DeleteCitation":
            for p in elem.findall("PMID"):
                if p.text and p.text.strip():
                    yield "deleted", p.text.strip()
            continue
        else:
            continue
        if pmid_el is None or not (pmid_el.text or "").strip():
            raise ValueError(f"snapshot file {path}: a <{elem.tag}> has no PMID")
        pmid = pmid_el.text.strip()
        edat = _history_date(history, "entrez") or _history_date(history, "pubmed")
        if edat is None or edat[0] == 0:
            # Loud: a record without an Entrez date would silently fall out of every date window.
            raise ValueError(f"snapshot file {path}: PMID {pmid} has no entrez or pubmed date in its History")
        edat = (edat[0], edat[1] or 1, edat[2] or 1, edat[3], edat[4])
        try:
            version = int(pmid_el.get("Version", "1"))
        except ValueError:
            version = 1
        xml = etree.tostring(elem, encoding="unicode", with_tail=False).encode("utf-8")
        yield "record", _Record(pmid, version, edat, xml, path.name)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ldn_monitor.replay", description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshot", default="data/snapshot", help="directory of PubmedArticleSet *.xml[.gz] files")
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1 only")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--rate-limit", type=float, default=None, help="answer 429 above this many requests/second")
    ap.add_argument("--max-esearch-ids", type=int, default=9999)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not Path(args.snapshot).exists():
        ap.error(f"--snapshot {args.snapshot!r} does not exist")
    server = ReplayServer(args.snapshot, host=args.host, port=args.port, rate_limit=args.rate_limit,
                          max_esearch_ids=args.max_esearch_ids)
    server.start()
    print(f"E-utilities replay of {len(server.pmids)} records at {server.url}  (LDN_EUTILS_URL={server.url})",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
