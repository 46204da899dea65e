"""The retry loop and request pacing shared by the PubMed and ClinicalTrials.gov clients.

Each client keeps what is its own: how it sends a request, how it checks a body, its pacing
interval, and the errors (and their advice) it raises. The policy itself is in :class:`Retrying`.
"""
from __future__ import annotations

import logging
import random
import threading
from typing import Callable, Optional, Self, TypeVar

import requests

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF = 60.0


class UnusableBody(Exception):
    """An HTTP 200 whose body is not a usable answer; ``str()`` is the reason. Retried like a 5xx."""


def looks_like_html(data: bytes) -> bool:
    """An HTML page where XML or JSON was asked for (a maintenance page, a proxy's error page)."""
    head = data[:512].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head[:200]


class SessionClient:
    """Closes the ``requests`` session it made (never one it was given); a context manager.
    Subclasses set ``self.session`` and ``self._own_session``."""

    session: requests.Session
    _own_session: bool

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Pacer:
    """Spaces request starts at least ``interval`` seconds apart; ``interval <= 0`` turns pacing off.

    One lock per pacer: threads sharing a client share its limit.
    """

    def __init__(self, interval: float, sleep: Callable[[float], None], clock: Callable[[], float]):
        self.interval = interval
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._next_start: Optional[float] = None

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = self._clock()
            if self._next_start is not None and now < self._next_start:
                self._sleep(self._next_start - now)
                now = max(self._clock(), self._next_start)
            self._next_start = now + self.interval


class Retrying:
    """Sends one logical request with retries, for a client configured by ``settings``.

    The policy:

    - at most ``1 + settings.max_retries`` attempts; each is paced (``pace``) and counted in
      :attr:`requests_made`; timeouts are always on: ``(min(10, settings.timeout), settings.timeout)``
      for connect and read;
    - retried: HTTP 429 and 500/502/503/504, a connect or read timeout, a connection error or a body
      cut off mid-transfer, and an HTTP 200 whose body ``validate`` rejects with :class:`UnusableBody`;
    - not retried: any other status (the request itself is wrong, asking again will not help), and any
      other exception from ``validate`` (it knows when a body is final, e.g. past a search horizon);
    - before retry *n*, sleep ``settings.backoff × 2^(n−1)`` plus up to 10 % jitter (so clients do not
      retry in lockstep), at most :data:`MAX_BACKOFF`; with ``honour_retry_after``, at least the last
      answer's ``Retry-After`` seconds (also at most :data:`MAX_BACKOFF`);
    - when the attempts run out, the error is ``exhausted(kind, reason, retries)`` for the last failure:
      ``kind`` is "429", "5xx", "timeout", "connection" or "body", ``reason`` a short text that says
      what happened. The client's error says what to do next, so it is the client's to word.

    Errors are raised with no ``requests`` exception as cause or context: its text holds the full URL,
    query and API key included. ``record`` gets each attempt's outcome (the HTTP status, or "timeout"
    or "connection"); retries are logged as warnings on the client's ``log``.
    """

    def __init__(
        self,
        settings,
        *,
        sleep: Callable[[float], None],
        pace: Callable[[], None],
        rng: random.Random,
        log: logging.Logger,
        too_many_requests: str,
        honour_retry_after: bool,
    ):
        self.retries = int(settings.max_retries)
        self._backoff_base = float(settings.backoff)
        read = float(settings.timeout)
        self.timeout = (min(10.0, read), read)
        self.requests_made = 0
        self._sleep = sleep
        self._pace = pace
        self._rng = rng
        self._log = log
        self._too_many_requests = too_many_requests  # the reason logged for a 429
        self._honour_retry_after = honour_retry_after

    def backoff(self, retry: int) -> float:
        """Seconds before retry ``retry + 1``."""
        base = self._backoff_base * (2 ** retry)
        return min(MAX_BACKOFF, base * (1.0 + 0.1 * self._rng.random()))

    def request(
        self,
        send: Callable[[tuple[float, float]], requests.Response],
        validate: Callable[[bytes], T],
        *,
        label: str,
        record: Callable[[object], None],
        refused: Callable[[int, str], Exception],
        exhausted: Callable[[str, str, int], Exception],
    ) -> T:
        """``validate(body)`` of the first usable answer to ``send(timeout)``; see the class docstring.

        ``refused(status, snippet)`` builds the error for a status that is not retried; ``snippet`` is
        the start of the body on one line.
        """
        kind, reason = "", ""
        retry_after = 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                delay = max(self.backoff(attempt - 1), min(retry_after, MAX_BACKOFF))
                retry_after = 0.0
                self._log.warning("%s: %s; retry %d/%d in %.2fs", label, reason, attempt, self.retries, delay)
                self._sleep(delay)
            self._pace()
            self.requests_made += 1
            try:
                resp = send(self.timeout)
                body = resp.content
            except requests.exceptions.ConnectTimeout:
                kind, reason = "connection", f"could not connect within {self.timeout[0]:g}s"
                record("timeout")
                continue
            except requests.exceptions.Timeout:
                kind, reason = "timeout", f"no answer within the {self.timeout[1]:g}s read timeout"
                record("timeout")
                continue
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                kind, reason = "connection", describe_connection_error(exc)
                record("connection")
                continue
            status = resp.status_code
            record(status)
            if status in RETRY_STATUSES:
                if status == 429:
                    kind, reason = "429", self._too_many_requests
                else:
                    kind, reason = "5xx", f"HTTP {status}"
                if self._honour_retry_after:
                    retry_after = _retry_after(resp)
                continue
            if status != 200:
                raise refused(status, body[:200].decode("utf-8", "replace").strip().replace("\n", " "))
            try:
                return validate(body)
            except UnusableBody as exc:
                kind, reason = "body", str(exc)
        raise exhausted(kind, reason, self.retries)


def describe_connection_error(exc: BaseException) -> str:
    """A short reason for a failed connection. requests' own text holds the full URL (with the
    query and the api_key), so it is classified, never quoted."""
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "reset" in text:
        return "connection reset"
    if "remotedisconnected" in text or "without response" in text or "aborted" in text:
        return "connection closed without a response"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host name did not resolve"
    if "incompleteread" in text or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "body cut off mid-transfer"
    return type(exc).__name__


def _retry_after(resp: requests.Response) -> float:
    try:
        return float(resp.headers.get("Retry-After", 0) or 0)
    except ValueError:  # an HTTP-date: rare enough to fall back to plain backoff
        return 0.0
