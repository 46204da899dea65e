"""PubMed E-utilities client (ESearch + EFetch over ``requests``; never Bio.Entrez).

What it guarantees, because a literature monitor that silently misses a paper is worse than one that fails:

- every request carries ``tool``, ``email`` and (if set) ``api_key``; request *starts* are paced to
  ``settings.requests_per_second`` (3/s, 10/s with a key); timeouts are always on;
- 429, 5xx (500/502/503/504), connection errors, read timeouts and HTTP-200 bodies that are not a usable
  answer (``<ERROR>``, an HTML page, empty, truncated or malformed XML) are retried with exponential backoff,
  then raised as :class:`~ldn_monitor.errors.RateLimited`, :class:`~ldn_monitor.errors.ServerError` or
  :class:`~ldn_monitor.errors.BadResponse` — never read as "no new records";
- :meth:`PubMedClient.fetch_window` delivers every record of an Entrez-date window exactly once or raises
  :class:`~ldn_monitor.errors.IncompleteResult`: windows above ESearch's 9,999-id horizon are split in halves,
  an expired WebEnv is re-searched once, and the PMIDs delivered must equal ESearch's count;
- the API key never appears in an exception, a log line or a repr.
"""
from __future__ import annotations

import calendar
import functools
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterable, Iterator, Optional
from urllib.parse import urlencode, urlsplit

import requests
from lxml import etree

from . import errors
from .errors import BadResponse, IncompleteResult, RateLimited, ServerError, SettingsError
from .http_retry import Pacer, Retrying, SessionClient, UnusableBody, looks_like_html
from .records import FetchResult

log = logging.getLogger("ldn_monitor.pubmed")

NCBI_HOST = "ncbi.nlm.nih.gov"
# PubMed lists only the first 9,999 ids of a search (ESearch retstart and EFetch-by-history alike).
MAX_SEARCH_IDS = 9999
EFETCH_MAX = 10000  # records per EFetch call
POST_ABOVE_IDS = 200  # NCBI: use POST for more than ~200 ids
POST_ABOVE_CHARS = 1800  # a long term would push the URL past what proxies accept
EARLIEST_EDAT = date(1800, 1, 1)  # lower bound when a full re-query must be split by Entrez date

_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False)
_KEY_IN_TEXT = re.compile(r"(api_key=)[^&\s'\"]+", re.I)
_ERROR_ELEMENT = re.compile(rb"<ERROR>(.*?)</ERROR>", re.S)
_HISTORY_LOST = re.compile(r"unable to obtain query|webenv|query[_ ]key|history", re.I)
_BEYOND_HORIZON = re.compile(r"cannot be larger than", re.I)
_EMPTY_ARTICLE_SET = re.compile(
    rb"^\s*(?:<\?xml[^>]*\?>)?\s*(?:<!DOCTYPE[^>]*>)?\s*<PubmedArticleSet\s*(?:/>|>\s*</PubmedArticleSet>)\s*$"
)

# Request starts are spaced 1/rate apart plus this margin (NCBI counts starts per second, per IP):
# exactly 1/rate drew 429s against a server enforcing the same rate (bench/README.md §2), because
# clocks and network jitter put a fourth start inside the same second.
PACING_MARGIN = 1.1


class HistoryExpired(IncompleteResult):
    """EFetch by WebEnv/query_key failed because the History server no longer holds the search."""


@dataclass(frozen=True)
class SearchResult:
    """One ESearch answer. ``ids`` is the page asked for (empty with ``retmax=0``)."""

    count: int
    retstart: int
    retmax: int
    ids: tuple[str, ...]
    webenv: Optional[str] = None
    query_key: Optional[str] = None
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- body checks
def _redact(text: str, key: Optional[str] = None) -> str:
    text = _KEY_IN_TEXT.sub(r"\1***", text)
    if key:
        text = text.replace(key, "***")
    return text


def _first_error(data: bytes) -> Optional[str]:
    m = _ERROR_ELEMENT.search(data)
    if not m:
        return None
    return " ".join(m.group(1).decode("utf-8", "replace").split()) or "(empty ERROR element)"


def _common_body_checks(data: bytes, what: str) -> None:
    if not data or not data.strip():
        raise BadResponse(f"{what} answered HTTP 200 with an empty body")
    if looks_like_html(data):
        raise BadResponse(f"{what} answered with an HTML page instead of XML (an NCBI error or maintenance page)")


def parse_esearch(data: bytes) -> SearchResult:
    """An eSearchResult body as a :class:`SearchResult`; :class:`BadResponse` for anything else.

    ``<ERROR>`` is a failure; ``ErrorList`` (PhraseNotFound, FieldNotFound) and ``WarningList`` are only
    warnings — PubMed still ran the search and its Count is right.
    """
    _common_body_checks(data, "ESearch")
    try:
        root = etree.fromstring(data, _SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadResponse(f"ESearch answered with truncated or malformed XML ({exc})") from None
    err = root.find(".//ERROR")
    if err is not None:
        msg = " ".join((err.text or "").split()) or "(empty ERROR)"
        if _BEYOND_HORIZON.search(msg):  # asking again cannot help: the caller paged past PubMed's horizon
            raise IncompleteResult(f"ESearch refused a position past PubMed's search horizon ({msg})")
        raise BadResponse(f"ESearch answered with an error: {msg}")
    if root.tag != "eSearchResult":
        raise BadResponse(f"ESearch answered with <{root.tag}>, not an eSearchResult")
    try:
        count = int(root.findtext("Count"))
        retmax = int(root.findtext("RetMax") or 0)
        retstart = int(root.findtext("RetStart") or 0)
    except (TypeError, ValueError):
        raise BadResponse("ESearch answer lacks a numeric Count/RetMax/RetStart") from None
    id_list = root.find("IdList")
    if id_list is None:
        raise BadResponse("ESearch answer has no IdList")
    ids = tuple((e.text or "").strip() for e in id_list.findall("Id"))
    if any(not i.isdigit() for i in ids):
        raise BadResponse("ESearch answer has a non-numeric Id")
    warnings = []
    for holder in ("ErrorList", "WarningList"):
        node = root.find(holder)
        if node is not None:
            for child in node:
                if isinstance(child.tag, str) and (child.text or "").strip():
                    warnings.append(f"{child.tag}: {child.text.strip()}")
    return SearchResult(
        count=count, retstart=retstart, retmax=retmax, ids=ids,
        webenv=(root.findtext("WebEnv") or "").strip() or None,
        query_key=(root.findtext("QueryKey") or "").strip() or None,
        warnings=tuple(warnings),
    )


def check_efetch(data: bytes) -> FetchResult:
    """An EFetch body as a :class:`FetchResult` (via ``ldn_monitor.parse``), or the error it really is.

    An expired WebEnv raises :class:`HistoryExpired` and a request past PubMed's 9,999-record horizon raises
    :class:`IncompleteResult` (retrying either is pointless); every other bad body raises
    :class:`BadResponse`. A well-formed but empty ``PubmedArticleSet`` (retstart past the end, unknown ids)
    is a legitimate answer: the caller's count check decides whether it means loss.
    """
    _common_body_checks(data, "EFetch")
    head = data[:4096]
    if b"<ERROR" in head or b"<eFetchResult" in head:
        msg = _first_error(data) or "an eFetchResult without records"
        if _HISTORY_LOST.search(msg):
            raise HistoryExpired(f"PubMed's History server no longer holds the search ({msg})")
        if _BEYOND_HORIZON.search(msg):
            raise IncompleteResult(f"EFetch refused a position past PubMed's search horizon ({msg})")
        raise BadResponse(f"EFetch answered with an error: {msg}")
    if _EMPTY_ARTICLE_SET.match(data):
        return FetchResult()
    from . import parse  # imported late: parse.py is written alongside this module

    try:
        return parse.parse_efetch(data)
    except etree.XMLSyntaxError as exc:
        raise BadResponse(f"EFetch answered with truncated or malformed XML ({exc})") from None


# --------------------------------------------------------------------------- dates
def entrez_day(value, end: bool) -> date:
    """``YYYY``, ``YYYY/MM``, ``YYYY/MM/DD`` (or a date): first day of the period, or last if ``end``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    m = re.fullmatch(r"(\d{4})(?:[/-](\d{1,2})(?:[/-](\d{1,2}))?)?", str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not an Entrez date; use YYYY/MM/DD, YYYY/MM or YYYY")
    y = int(m.group(1))
    if m.group(3):
        return date(y, int(m.group(2)), int(m.group(3)))
    if m.group(2):
        mo = int(m.group(2))
        return date(y, mo, calendar.monthrange(y, mo)[1] if end else 1)
    return date(y, 12, 31) if end else date(y, 1, 1)


def _fmt(d: date) -> str:
    return d.strftime("%Y/%m/%d")


def _date_param(value) -> str:
    if isinstance(value, (date, datetime)):
        return _fmt(value if not isinstance(value, datetime) else value.date())
    entrez_day(value, end=False)  # validate early: NCBI answers a bad date with an <ERROR> body
    return str(value).strip()


class _RedactApiKey(logging.Filter):
    """urllib3 logs full request URLs at DEBUG; take the api_key out before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken log call is not ours to fix
            return True
        if "api_key=" in msg.lower():
            record.msg, record.args = _redact(msg), ()
        return True


_REDACTOR = _RedactApiKey()


def _install_redaction() -> None:
    for name in ("urllib3.connectionpool", "urllib3", "requests", log.name):
        lg = logging.getLogger(name)
        if _REDACTOR not in lg.filters:
            lg.addFilter(_REDACTOR)


# --------------------------------------------------------------------------- client
class PubMedClient(SessionClient):
    """ESearch/EFetch with pacing, retries and completeness checks. See the module docstring."""

    def __init__(
        self,
        settings,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_search_ids: int = MAX_SEARCH_IDS,
        rng: Optional[random.Random] = None,
    ):
        url = settings.eutils_url
        host = (urlsplit(url).hostname or "").lower()
        if (host == NCBI_HOST or host.endswith("." + NCBI_HOST)) and not settings.ncbi_email:
            raise SettingsError(
                "LDN_NCBI_EMAIL is not set: NCBI asks every E-utilities user for a contact email; "
                "set LDN_NCBI_EMAIL=you@example.org"
            )
        if settings.requests_per_second <= 0:
            raise SettingsError("LDN_RATE must be above 0 requests per second")
        self.settings = settings
        self.base_url = url if url.endswith("/") else url + "/"
        self.session = session or requests.Session()
        self._own_session = session is None
        self.max_search_ids = max_search_ids  # tests lower it together with ReplayServer(max_esearch_ids=…)
        self.log: list[tuple[str, object]] = []  # (endpoint, HTTP status or "timeout"/"connection")
        self._retrying = Retrying(
            settings, sleep=sleep, pace=Pacer(PACING_MARGIN / settings.requests_per_second, sleep, clock).wait,
            rng=rng or random.Random(), log=log,
            too_many_requests="HTTP 429 (API rate limit exceeded)",
            # NCBI sends no Retry-After today; honour one if a proxy or a future NCBI does.
            honour_retry_after=True,
        )
        self._key = settings.ncbi_api_key or None
        if self._key:
            _install_redaction()

    @property
    def requests_made(self) -> int:
        return self._retrying.requests_made

    def __repr__(self) -> str:
        return (f"PubMedClient(url={_redact(self.base_url, self._key)!r}, tool={self.settings.ncbi_tool!r}, "
                f"api_key={'set' if self._key else 'unset'}, requests_made={self.requests_made})")

    # ------------------------------------------------------------------ plumbing
    def _identity(self) -> dict:
        params = {"tool": self.settings.ncbi_tool}
        if self.settings.ncbi_email:
            params["email"] = self.settings.ncbi_email
        if self._key:
            params["api_key"] = self._key
        return params

    def _call(self, endpoint: str, params: dict, validate: Callable[[bytes], object], post: bool = False):
        """One E-utility request, retried as :class:`~ldn_monitor.http_retry.Retrying` says; ``validate(body)``."""
        url = self.base_url + endpoint + ".fcgi"
        full = {**params, **self._identity()}
        if not post and len(urlencode(full)) > POST_ABOVE_CHARS:
            post = True

        def send(timeout):
            if post:
                return self.session.post(url, data=full, timeout=timeout)
            return self.session.get(url, params=full, timeout=timeout)

        def usable(body: bytes):
            try:
                return validate(body)
            except BadResponse as exc:  # the other errors (History lost, past the horizon) are final
                raise UnusableBody(_redact(str(exc), self._key)) from None

        return self._retrying.request(
            send, usable, label=endpoint, record=lambda outcome: self.log.append((endpoint, outcome)),
            refused=functools.partial(self._refused, endpoint),
            exhausted=functools.partial(self._exhausted, endpoint),
        )

    def _refused(self, endpoint: str, status: int, snippet: str) -> BadResponse:
        # 400/404 and friends: the request itself is wrong, asking again will not help.
        snippet = _redact(snippet, self._key)
        return BadResponse(
            f"PubMed E-utilities refused {endpoint} with HTTP {status} ({snippet or 'no body'}); "
            f"check LDN_QUERY and LDN_EUTILS_URL ({_redact(self.base_url, self._key)}) — not retried"
        )

    def _exhausted(self, endpoint: str, kind: str, reason: str, retries: int) -> errors.EutilsError:
        where = _redact(self.base_url, self._key)
        if kind == "429":
            hint = "try again later or lower LDN_RATE" if self._key else "try again later or set LDN_NCBI_API_KEY"
            return RateLimited(f"PubMed E-utilities kept answering 429 after {retries} retries; {hint}")
        if kind == "5xx":
            return ServerError(f"PubMed E-utilities {endpoint} kept failing after {retries} retries (last: {reason}); "
                               f"NCBI may be down or in maintenance — try again later")
        if kind == "timeout":
            return ServerError(f"PubMed E-utilities {endpoint} gave no answer after {retries} retries ({reason}); "
                               f"try again later or raise LDN_TIMEOUT")
        if kind == "connection":
            return ServerError(f"could not reach PubMed E-utilities at {where} after {retries} retries "
                               f"(last: {reason}); check LDN_EUTILS_URL and the network, or try again later")
        return BadResponse(f"PubMed E-utilities {endpoint} kept returning an unusable body after {retries} retries "
                           f"(last: {reason}); NCBI is failing, this is not 'no new records' — try again later")

    # ------------------------------------------------------------------ E-utilities
    def esearch(self, term: str, mindate=None, maxdate=None, datetype: str = "edat", retmax: int = 0,
                retstart: int = 0, usehistory: bool = True) -> SearchResult:
        """One ESearch. Dates (``YYYY[/MM[/DD]]`` or date objects) must come together, as NCBI requires."""
        if (mindate is None) != (maxdate is None):
            raise ValueError("esearch needs both mindate and maxdate, or neither (NCBI ignores one alone)")
        params = {"db": "pubmed", "term": term, "retmode": "xml", "retstart": int(retstart), "retmax": int(retmax)}
        if usehistory:
            params["usehistory"] = "y"
        if mindate is not None:
            params.update(datetype=datetype, mindate=_date_param(mindate), maxdate=_date_param(maxdate))
        result = self._call("esearch", params, parse_esearch)
        for w in result.warnings:
            log.warning("ESearch warning for %s: %s", _short(term), w)
        return result

    def efetch(self, webenv: str, query_key, retstart: int, retmax: int) -> bytes:
        """EFetch records ``retstart``…``retstart+retmax-1`` of a History search; a validated XML body."""
        body, _ = self._efetch_history(webenv, query_key, retstart, retmax)
        return body

    def _efetch_history(self, webenv: str, query_key, retstart: int, retmax: int) -> tuple[bytes, FetchResult]:
        params = {"db": "pubmed", "retmode": "xml", "WebEnv": webenv, "query_key": str(query_key),
                  "retstart": int(retstart), "retmax": int(retmax)}
        return self._call("efetch", params, lambda b: (b, check_efetch(b)))

    def efetch_ids(self, pmids: Iterable) -> bytes:
        """EFetch these PMIDs (POST above 200 ids); a validated XML body. Unknown PMIDs are simply absent."""
        body, _ = self._efetch_ids(pmids)
        return body

    def _efetch_ids(self, pmids: Iterable) -> tuple[bytes, FetchResult]:
        ids = [str(p).strip() for p in pmids]
        if not ids:
            raise ValueError("efetch_ids needs at least one PMID")
        bad = [p for p in ids if not p.isdigit()]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a PMID")
        if len(ids) > EFETCH_MAX:
            raise ValueError(f"EFetch takes at most {EFETCH_MAX} ids per call; use fetch_ids() to batch")
        params = {"db": "pubmed", "retmode": "xml", "id": ",".join(ids)}
        return self._call("efetch", params, lambda b: (b, check_efetch(b)), post=len(ids) > POST_ABOVE_IDS)

    def fetch_ids(self, pmids: Iterable) -> Iterator[FetchResult]:
        """EFetch PMIDs in batches of ``settings.batch_size`` (re-checking the stored subject set)."""
        ids = list(dict.fromkeys(str(p).strip() for p in pmids))
        size = max(1, int(self.settings.batch_size))
        for i in range(0, len(ids), size):
            _, result = self._efetch_ids(ids[i:i + size])
            log.info("EFetch by id %d–%d of %d: %d articles, %d deleted", i + 1, min(i + size, len(ids)),
                     len(ids), len(result.articles), len(result.deleted))
            yield result

    # ------------------------------------------------------------------ windows
    def _leaf_searches(self, term: str, lo: date, hi: date, *, usehistory: bool, retmax: int):
        """ESearch [lo, hi]; while the count is past ESearch's horizon, split the window in halves."""
        sr = self.esearch(term, _fmt(lo), _fmt(hi), retmax=retmax, usehistory=usehistory)
        if sr.count <= self.max_search_ids:
            yield lo, hi, sr
            return
        if lo >= hi:
            raise IncompleteResult(
                f"PubMed has {sr.count} records for {_short(term)} with Entrez date {_fmt(lo)}, more than the "
                f"{self.max_search_ids} one search can list; narrow LDN_QUERY — this day cannot be polled completely"
            )
        mid = lo + (hi - lo) // 2
        log.info("ESearch %s–%s: %d records, more than %d; splitting the window", _fmt(lo), _fmt(hi), sr.count,
                 self.max_search_ids)
        yield from self._leaf_searches(term, lo, mid, usehistory=usehistory, retmax=retmax)
        yield from self._leaf_searches(term, mid + timedelta(days=1), hi, usehistory=usehistory, retmax=retmax)

    def fetch_window(self, term: str, mindate, maxdate) -> Iterator[FetchResult]:
        """Every record with Entrez date in [mindate, maxdate] (inclusive), in EFetch batches.

        ESearch (usehistory, retmax=0) then EFetch by WebEnv/query_key, ``settings.batch_size`` at a time:
        1 + ceil(N / batch_size) requests for N records. Each PMID is yielded once. The completeness check
        runs after a window's last batch, so treat what was yielded as provisional until the iterator ends
        without :class:`IncompleteResult` (don't move a watermark before that).
        """
        lo, hi = entrez_day(mindate, end=False), entrez_day(maxdate, end=True)
        if hi < lo:
            raise ValueError(f"window {_fmt(lo)}–{_fmt(hi)} ends before it starts")
        for wlo, whi, sr in self._leaf_searches(term, lo, hi, usehistory=True, retmax=0):
            yield from self._fetch_history(term, wlo, whi, sr)

    def _fetch_history(self, term: str, lo: date, hi: date, sr: SearchResult) -> Iterator[FetchResult]:
        label = f"{_fmt(lo)}–{_fmt(hi)}"
        log.info("ESearch %s: %d records", label, sr.count)
        if sr.count and not (sr.webenv and sr.query_key):
            raise BadResponse(f"ESearch {label} returned no WebEnv/QueryKey although usehistory=y was asked; "
                              "try again later")
        size = max(1, min(int(self.settings.batch_size), EFETCH_MAX))
        seen: set[str] = set()
        researched = False
        retstart = 0
        while retstart < sr.count:
            try:
                _, result = self._efetch_history(sr.webenv, sr.query_key, retstart, size)
            except HistoryExpired as exc:
                if researched:
                    raise IncompleteResult(
                        f"PubMed's History server lost the search for {label} twice (at record {retstart} of "
                        f"{sr.count}: {exc}); try again later"
                    ) from None
                researched = True
                log.warning("EFetch %s retstart=%d: %s; searching again and resuming", label, retstart, exc)
                sr = self.esearch(term, _fmt(lo), _fmt(hi), retmax=0, usehistory=True)
                if sr.count > self.max_search_ids:
                    raise IncompleteResult(
                        f"the window {label} grew past {self.max_search_ids} records while it was being fetched; "
                        "run again"
                    ) from None
                continue
            fresh = tuple(a for a in result.articles if a.pmid not in seen)
            seen.update(a.pmid for a in fresh)
            log.info("EFetch %s retstart=%d: %d articles, %d deleted (%d/%d delivered)", label, retstart,
                     len(result.articles), len(result.deleted), len(seen), sr.count)
            if fresh or result.deleted:
                yield FetchResult(articles=fresh, deleted=result.deleted)
            if not result.articles and not result.deleted:
                break  # past the end of what the History server holds: stop asking, let the check speak
            retstart += size
        if len(seen) != sr.count:
            raise IncompleteResult(
                f"ESearch counted {sr.count} records with Entrez date {label} but EFetch delivered {len(seen)}; "
                "stopping so the watermark does not move — run again later"
            )

    def search_all_ids(self, term: str) -> list[str]:
        """Every PMID the term matches today (the full re-query diffed against the stored subject set).

        Paged ESearch without history; if the count is past ESearch's horizon, the Entrez-date range is split
        until each window fits. Raises :class:`IncompleteResult` if fewer ids come back than counted.
        """
        page = max(1, min(self.max_search_ids, EFETCH_MAX))
        first = self.esearch(term, retmax=page, usehistory=False)
        if first.count <= self.max_search_ids:
            ids = self._page_ids(term, None, None, first, page)
        else:
            hi = date.today() + timedelta(days=366)  # no time-zone or clock skew can put an EDAT past this
            ids = []
            for lo_w, hi_w, sr in self._leaf_searches(term, EARLIEST_EDAT, hi, usehistory=False, retmax=page):
                ids.extend(self._page_ids(term, lo_w, hi_w, sr, page))
            ids = list(dict.fromkeys(ids))
            if len(ids) < first.count:
                raise IncompleteResult(
                    f"ESearch counted {first.count} records for {_short(term)} but the date-split searches listed "
                    f"{len(ids)}; run again later"
                )
        log.info("full re-query: %d PMIDs", len(ids))
        return ids

    def _page_ids(self, term: str, lo: Optional[date], hi: Optional[date], sr: SearchResult, page: int) -> list[str]:
        ids = dict.fromkeys(sr.ids)  # ordered set: a record shifting between pages must not count twice
        retstart = sr.retstart + len(sr.ids)
        while retstart < sr.count:
            more = self.esearch(term, _fmt(lo) if lo else None, _fmt(hi) if hi else None,
                                retmax=page, retstart=retstart, usehistory=False)
            if not more.ids:
                break
            ids.update(dict.fromkeys(more.ids))
            retstart += len(more.ids)
        ids = list(ids)
        if len(ids) != sr.count:
            window = f" with Entrez date {_fmt(lo)}–{_fmt(hi)}" if lo else ""
            raise IncompleteResult(
                f"ESearch counted {sr.count} records{window} but listed {len(ids)} ids; run again later"
            )
        return ids


def _short(term: str, limit: int = 60) -> str:
    term = " ".join(term.split())
    return repr(term if len(term) <= limit else term[: limit - 1] + "…")
