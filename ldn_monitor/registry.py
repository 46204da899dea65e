"""ClinicalTrials.gov API v2 client: LDN trials from the registry, page by page (``requests``).

Why a registry watch at all: trials are registered years before their papers appear, and a trial
that completed but never published is evidence too (publication bias). See
``shared/notes/ctgov.md`` for the API facts this client relies on.

What it guarantees, in the same spirit as the PubMed client:

- one query, ``GET {LDN_CTGOV_URL}studies`` with ``query.intr`` (:data:`DEFAULT_INTR`), an optional
  incremental window ``filter.advanced=AREA[LastUpdatePostDate]RANGE[YYYY-MM-DD,MAX]``,
  ``pageSize`` up to 1,000, ``countTotal=true`` and a sparse ``fields=`` list (:data:`FIELDS`);
  pages are followed through ``nextPageToken`` → ``pageToken`` until the last one;
- request starts are paced :data:`CRAWL_DELAY` seconds apart (robots.txt asks for 1 s; the API
  publishes no rate limit), timeouts are always on;
- 429, 5xx, connection errors, timeouts and HTTP-200 bodies that are not the JSON answer (an HTML
  maintenance page, truncated JSON, an XML error) are retried with exponential backoff, then raised
  as :class:`~ldn_monitor.errors.RegistryError` with a message that says what to do — never read as
  "no trials";
- the studies delivered must add up to the ``totalCount`` the first page announced (a page that
  silently went missing is an error, not fewer trials); a trial seen on two pages is yielded once.
"""
from __future__ import annotations

import json
import logging
import random
import re
import time
from datetime import date, datetime
from typing import Callable, Iterator, Optional

import requests

from .errors import RegistryError
from .http_retry import Pacer, Retrying, SessionClient, UnusableBody, looks_like_html

log = logging.getLogger("ldn_monitor.registry")

# Intervention-field synonyms (Essie syntax: quoted phrases, OR). Why these and not plain
# "naltrexone": the registry holds hundreds of standard-dose naltrexone trials (alcohol, opioids,
# obesity); the LDN ones name the low dose in the intervention name, other names or arm labels.
# Hyphenated and spaced spellings are both listed because registrants use both. "LDN" catches
# "Drug: LDN". Trials that register the drug only as "Naltrexone" with "4.5 mg" in a description
# can be missed; widen with CTGovClient(query="naltrexone") — registry_assess decides is_ldn from
# the dose either way, so a broader query only costs bandwidth.
DEFAULT_INTR = ('"low dose naltrexone" OR "low-dose naltrexone" OR "very low dose naltrexone" '
                'OR "ultra low dose naltrexone" OR "ultra-low-dose naltrexone" OR LDN')

# The sparse field list: exactly the parts registry_assess / registry_store read. Module paths pull
# whole (small) modules; descriptionModule is limited to the brief summary.
FIELDS = (
    "protocolSection.identificationModule",
    "protocolSection.statusModule",
    "protocolSection.designModule",
    "protocolSection.conditionsModule",
    "protocolSection.armsInterventionsModule",
    "protocolSection.outcomesModule.primaryOutcomes",
    "protocolSection.referencesModule",
    "protocolSection.descriptionModule.briefSummary",
    "hasResults",
)

MAX_PAGE_SIZE = 1000  # the API's own maximum
CRAWL_DELAY = 1.0  # seconds between request starts: clinicaltrials.gov robots.txt
_DAY = re.compile(r"^(\d{4})[-/](\d{2})[-/](\d{2})$")


class _BadBody(Exception):
    """An HTTP 200 whose body is not the studies JSON (retried like a 5xx)."""


def parse_page(data: bytes) -> dict:
    """One ``/studies`` answer as a dict with a ``studies`` list; :class:`_BadBody` for anything else."""
    if not data or not data.strip():
        raise _BadBody("an empty body")
    if looks_like_html(data):
        raise _BadBody("an HTML page instead of JSON (a maintenance or error page)")
    try:
        page = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        what = "XML instead of JSON" if data.lstrip()[:1] == b"<" else f"truncated or malformed JSON ({exc})"
        raise _BadBody(what) from None
    if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
        raise _BadBody("JSON without a 'studies' list")
    token = page.get("nextPageToken")
    if token is not None and (not isinstance(token, str) or not token):
        raise _BadBody("a nextPageToken that is not a string")
    return page


def nct_id(study: dict) -> Optional[str]:
    try:
        return study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return None


def as_day(value) -> str:
    """``YYYY-MM-DD`` from a date or ``YYYY-MM-DD`` / ``YYYY/MM/DD`` text (the form Essie RANGE wants)."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    m = _DAY.match(str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not a day; use YYYY-MM-DD")
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()


class CTGovClient(SessionClient):
    """``iter_studies(updated_since)`` over ClinicalTrials.gov API v2. See the module docstring.

    ``min_interval`` is the pause between request starts (default: the 1 s crawl delay; tests pass 0);
    ``page_size`` defaults to the API maximum so a full pull of LDN trials is one or two requests.
    """

    def __init__(
        self,
        settings,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = CRAWL_DELAY,
        page_size: int = MAX_PAGE_SIZE,
        query: str = DEFAULT_INTR,
        fields: tuple[str, ...] = FIELDS,
        rng: Optional[random.Random] = None,
    ):
        if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, not {page_size}")
        self.settings = settings
        url = settings.ctgov_url
        self.base_url = url if url.endswith("/") else url + "/"
        self.session = session or requests.Session()
        self._own_session = session is None
        self.min_interval = max(0.0, float(min_interval))
        self.page_size = int(page_size)
        self.query = query
        self.fields = tuple(fields)
        self._pace = Pacer(self.min_interval, sleep, clock).wait
        self._retrying = Retrying(
            settings, sleep=sleep, pace=self._pace, rng=rng or random.Random(), log=log,
            too_many_requests="HTTP 429 (too many requests)",
            honour_retry_after=True,  # a server that says when to come back is obeyed (capped, see Retrying)
        )
        self.log: list[object] = []  # HTTP status per attempt, or "timeout" / "connection" / "body"
        self.total_count: Optional[int] = None  # totalCount of the last iter_studies

    @property
    def requests_made(self) -> int:
        return self._retrying.requests_made

    def __repr__(self) -> str:
        return f"CTGovClient(url={self.base_url!r}, page_size={self.page_size}, requests_made={self.requests_made})"

    # ------------------------------------------------------------------ plumbing
    def _get(self, params: dict) -> dict:
        """One ``/studies`` request, retried as :class:`~ldn_monitor.http_retry.Retrying` says; the parsed page."""
        url = self.base_url + "studies"
        return self._retrying.request(
            lambda timeout: self.session.get(url, params=params, timeout=timeout,
                                             headers={"Accept": "application/json"}),
            self._parse, label="ClinicalTrials.gov", record=self.log.append, refused=self._refused,
            exhausted=self._exhausted,
        )

    def _parse(self, body: bytes) -> dict:
        try:
            return parse_page(body)
        except _BadBody as exc:
            self.log.append("body")  # this client's log marks the unusable body after its HTTP 200
            raise UnusableBody(f"HTTP 200 with {exc}") from None

    def _refused(self, status: int, snippet: str) -> RegistryError:
        # 400 (a query the API rejects), 404 (wrong base URL): asking again will not help.
        return RegistryError(
            f"ClinicalTrials.gov refused the studies query with HTTP {status} ({snippet or 'no body'}); "
            f"check LDN_CTGOV_URL ({self.base_url}) — not retried")

    def _exhausted(self, kind: str, reason: str, retries: int) -> RegistryError:
        if kind == "429":
            return RegistryError(f"ClinicalTrials.gov kept answering 429 after {retries} retries; "
                                 "try again later (the registry asks for at most one request a second)")
        if kind == "5xx":
            return RegistryError(f"ClinicalTrials.gov kept failing after {retries} retries (last: {reason}); "
                                 "the registry may be down or in maintenance — try again later")
        if kind == "timeout":
            return RegistryError(f"ClinicalTrials.gov gave no answer after {retries} retries ({reason}); "
                                 "try again later or raise LDN_TIMEOUT")
        if kind == "connection":
            return RegistryError(f"could not reach ClinicalTrials.gov at {self.base_url} after {retries} retries "
                                 f"(last: {reason}); check LDN_CTGOV_URL and the network, or try again later")
        return RegistryError(f"ClinicalTrials.gov kept returning an unusable body after {retries} retries "
                             f"(last: {reason}); the registry is failing, this is not 'no trials' — try again later")

    # ------------------------------------------------------------------ the query
    def params(self, updated_since: Optional[str] = None, page_token: Optional[str] = None) -> dict:
        params = {
            "query.intr": self.query,
            "pageSize": str(self.page_size),
            "countTotal": "true",
            "format": "json",
        }
        if self.fields:
            params["fields"] = ",".join(self.fields)
        if updated_since:
            params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{as_day(updated_since)},MAX]"
        if page_token:
            params["pageToken"] = page_token
        return params

    def iter_studies(self, updated_since: Optional[str] = None) -> Iterator[dict]:
        """Every matching study (raw v2 JSON), each once; only those updated since the day given, if any.

        Raises RegistryError when the pages do not add up to the announced ``totalCount`` or the
        API hands back a page token it already gave (a paging loop).
        """
        self.total_count = None
        seen: set[str] = set()
        tokens: set[str] = set()
        token: Optional[str] = None
        while True:
            page = self._get(self.params(updated_since, token))
            if token is None and "totalCount" in page:
                try:
                    self.total_count = int(page["totalCount"])
                except (TypeError, ValueError):
                    raise RegistryError("ClinicalTrials.gov sent a non-numeric totalCount; try again later") from None
            for study in page["studies"]:
                nid = nct_id(study)
                if not nid:
                    log.warning("ClinicalTrials.gov: a study without protocolSection.identificationModule.nctId, skipped")
                    continue
                if nid in seen:
                    continue  # the same trial on two pages (it was updated while we paged)
                seen.add(nid)
                yield study
            token = page.get("nextPageToken")
            if not token:
                break
            if token in tokens:
                raise RegistryError("ClinicalTrials.gov returned a page token it had already given (paging loop); "
                                    "try again later")
            tokens.add(token)
        if self.total_count is not None and len(seen) < self.total_count:
            raise RegistryError(
                f"ClinicalTrials.gov announced {self.total_count} studies but delivered {len(seen)}; "
                "a page went missing — the run is incomplete, try again later")
