"""ClinicalTrials.gov API v2 replay: ``GET /api/v2/studies`` from a folder of study JSON, on the E-utilities
replay server (``replay.ReplayServer.add_route``), so the registry client is tested over real HTTP and the
demo runs offline.

Mount it::

    with ReplayServer(snapshot) as server:
        ctgov = mount(server, snapshot / "ctgov")      # Settings(ctgov_url=server.base + "/api/v2/")
        ...; ctgov.reload()                              # tests change files between polls

What it speaks (enough of the API to be indistinguishable for ldn-monitor):

- ``GET /api/v2/studies``: ``query.intr`` / ``query.cond`` / ``query.term`` match everything (the folder
  *is* the subject set) unless one contains ``NOTHING_MATCHES`` (the E-utilities replay's convention);
  ``filter.advanced=AREA[<date field>]RANGE[lo,hi]`` with ``YYYY[-MM[-DD]]``, ``MIN`` or ``MAX``
  (LastUpdatePostDate, StudyFirstPostDate, ResultsFirstPostDate, StartDate, PrimaryCompletionDate,
  CompletionDate) — any other expression is a 400, so an unsupported query fails loudly instead of
  matching everything; ``pageSize`` (default 10, coerced down to 1,000 like the API) and ``pageToken``
  (opaque, tied to the query; a foreign or stale token is a 400) with ``nextPageToken`` on every page but
  the last; ``countTotal=true`` adds ``totalCount`` to the first page; ``fields`` with dotted paths
  (``protocolSection.statusModule``, ``hasResults``) returns only those subtrees, piece names
  (``NCTId``) are accepted and ignored (full records); ``format=json`` only.
- ``GET /api/v2/studies/NCT…``: one study, 404 if unknown. ``GET /api/v2/version``: a version stub.

Studies come in NCT-id order. Faults are the server's own (``server.inject(kind, endpoint="ctgov")`` or
``endpoint=None`` for any route): 429, 5xx, HTML pages, drops, truncated bodies all apply here.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Optional

from .registry_assess import date_ceil, date_floor
from .replay import NOTHING_MATCHES

PREFIX = "/api/v2/"
ROUTE_NAME = "ctgov"
JSON = "application/json; charset=UTF-8"
TEXT = "text/plain; charset=UTF-8"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
# Essie AREA names the replay can filter on → the statusModule date struct holding them.
DATE_AREAS = {
    "LastUpdatePostDate": "lastUpdatePostDateStruct", "StudyFirstPostDate": "studyFirstPostDateStruct",
    "ResultsFirstPostDate": "resultsFirstPostDateStruct", "StartDate": "startDateStruct",
    "PrimaryCompletionDate": "primaryCompletionDateStruct", "CompletionDate": "completionDateStruct",
}
_RANGE_RE = re.compile(r"^\s*AREA\[(\w+)\]\s*RANGE\[\s*([^,\]]+?)\s*,\s*([^\]]+?)\s*\]\s*$", re.I)
_NCT_PATH_RE = re.compile(r"^studies/(NCT\d{8})$", re.I)


class _Reject(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _study_nct(study: dict) -> Optional[str]:
    try:
        return study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return None


def _project(study: dict, paths: list[list[str]]) -> dict:
    """Only the requested subtrees (a path that runs into a list keeps the whole list)."""
    out: dict = {}
    for path in paths:
        src, dst = study, out
        for i, key in enumerate(path):
            if not isinstance(src, dict) or key not in src:
                break
            if i == len(path) - 1 or not isinstance(src[key], dict):
                dst[key] = src[key]
                break
            dst = dst.setdefault(key, {})
            src = src[key]
    return out


class CTGovReplay:
    """The ``/api/v2/`` route: a folder of v2 study JSON files (one study per ``*.json``)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._studies: dict[str, dict] = {}
        self.reload()

    # ----------------------------------------------------------------- snapshot
    def reload(self) -> int:
        """Re-read the folder (tests edit files between polls). Returns the study count."""
        studies: dict[str, dict] = {}
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ValueError(f"registry snapshot file {path} is not valid JSON: {exc}") from None
            for study in (data if isinstance(data, list) else [data]):
                nct = _study_nct(study)
                if not nct:
                    raise ValueError(f"registry snapshot file {path}: a study without "
                                     "protocolSection.identificationModule.nctId")
                studies[nct] = study
        with self._lock:
            self._studies = dict(sorted(studies.items()))
        return len(studies)

    @property
    def nct_ids(self) -> list[str]:
        with self._lock:
            return list(self._studies)

    # ----------------------------------------------------------------- HTTP
    def __call__(self, method: str, path: str, params: dict):
        sub = path[len(PREFIX):] if path.startswith(PREFIX) else path
        try:
            if method != "GET":
                raise _Reject(405, f"{method} is not supported; the studies API is GET only")
            if params.get("format", "json").lower() != "json":
                raise _Reject(400, f"format={params['format']} is not supported by the replay (json only)")
            if sub in ("studies", "studies/"):
                return 200, JSON, json.dumps(self._search(params), ensure_ascii=False).encode("utf-8")
            m = _NCT_PATH_RE.match(sub)
            if m:
                with self._lock:
                    study = self._studies.get(m.group(1).upper())
                if study is None:
                    raise _Reject(404, f"study {m.group(1)} not found")
                return 200, JSON, json.dumps(self._fields(study, params), ensure_ascii=False).encode("utf-8")
            if sub == "version":
                return 200, JSON, b'{"apiVersion":"2.0.3","dataTimestamp":"replay"}'
            raise _Reject(404, f"no such endpoint: {path}")
        except _Reject as exc:
            return exc.status, TEXT, (str(exc) + "\n").encode("utf-8")

    def _fields(self, study: dict, params: dict) -> dict:
        raw = (params.get("fields") or "").strip()
        if not raw:
            return study
        items = [f.strip() for f in re.split(r"[,|]", raw) if f.strip()]
        if not all("." in f or f[:1].islower() for f in items):
            return study  # piece names (NCTId, OverallStatus): not modelled here, send everything
        return _project(study, [f.split(".") for f in items])

    @staticmethod
    def _query_signature(params: dict) -> str:
        keep = {k: v for k, v in params.items() if k not in ("pageToken", "pageSize", "countTotal")}
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]

    def _search(self, params: dict) -> dict:
        with self._lock:
            studies = list(self._studies.values())
        if any(NOTHING_MATCHES in (params.get(k) or "") for k in ("query.intr", "query.cond", "query.term")):
            studies = []
        adv = (params.get("filter.advanced") or "").strip()
        if adv:
            m = _RANGE_RE.match(adv)
            if not m or m.group(1) not in DATE_AREAS:
                raise _Reject(400, f"replay server: filter.advanced={adv!r} is not supported "
                                   f"(AREA[{'|'.join(DATE_AREAS)}]RANGE[lo,hi] only)")
            struct = DATE_AREAS[m.group(1)]
            lo = None if m.group(2).upper() == "MIN" else date_floor(m.group(2))
            hi = None if m.group(3).upper() == "MAX" else date_ceil(m.group(3))
            if (m.group(2).upper() != "MIN" and lo is None) or (m.group(3).upper() != "MAX" and hi is None):
                raise _Reject(400, f"invalid date in filter.advanced={adv!r}; use YYYY-MM-DD, MIN or MAX")

            def inside(study: dict) -> bool:
                day = date_floor(((study.get("protocolSection") or {}).get("statusModule") or {})
                                 .get(struct, {}).get("date"))
                return day is not None and (lo is None or day >= lo) and (hi is None or day <= hi)

            studies = [s for s in studies if inside(s)]
        try:
            size = int(params.get("pageSize") or 0)
        except ValueError:
            raise _Reject(400, f"pageSize={params.get('pageSize')!r} is not a number") from None
        if size < 0:
            raise _Reject(400, "pageSize must not be negative")
        size = DEFAULT_PAGE_SIZE if size == 0 else min(size, MAX_PAGE_SIZE)
        sig = self._query_signature(params)
        offset = 0
        token = params.get("pageToken")
        if token:
            try:
                off, tsig = base64.urlsafe_b64decode(token.encode() + b"==").decode().split("|")
                offset = int(off)
            except (ValueError, UnicodeDecodeError):
                raise _Reject(400, f"invalid pageToken {token!r}") from None
            if tsig != sig or offset < 0:
                raise _Reject(400, f"pageToken {token!r} does not belong to this query")
        page = studies[offset: offset + size]
        body: dict = {"studies": [self._fields(s, params) for s in page]}
        if offset + size < len(studies):
            body["nextPageToken"] = base64.urlsafe_b64encode(f"{offset + size}|{sig}".encode()).decode().rstrip("=")
        if not token and (params.get("countTotal") or "").lower() == "true":
            body["totalCount"] = len(studies)
        return body


def mount(server, folder: str | Path) -> CTGovReplay:
    """Serve ``folder`` as ``/api/v2/`` on a running or not-yet-started ReplayServer; returns the route
    (call ``.reload()`` after changing files). Faults target it with ``endpoint="ctgov"``."""
    if not hasattr(server, "add_route"):
        raise RuntimeError("this ReplayServer has no add_route(); update ldn_monitor/replay.py")
    replay = CTGovReplay(folder)
    server.add_route(PREFIX, replay, name=ROUTE_NAME)
    return replay
