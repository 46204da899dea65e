"""The retry loop both HTTP clients share (``ldn_monitor.http_retry``), without a server.

The clients' own tests (test_pubmed.py, test_registry.py, test_faults.py) cover it over real HTTP;
these pin the parts where the two clients differ by configuration, and the policy's edges.
"""
from __future__ import annotations

import logging
import random

import pytest
import requests

from ldn_monitor.http_retry import MAX_BACKOFF, Pacer, Retrying, UnusableBody
from ldn_monitor.settings import Settings

log = logging.getLogger("test_http_retry")


class Final(Exception):
    pass


def response(status: int, body: bytes = b"ok", **headers) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content = status, body
    resp.headers.update(headers)
    return resp


def retrying(sleeps: list, *, honour_retry_after: bool = False, **settings) -> Retrying:
    values = dict(max_retries=2, backoff=0.5, timeout=30.0)
    values.update(settings)
    return Retrying(Settings(**values), sleep=sleeps.append, pace=lambda: None, rng=random.Random(1), log=log,
                    too_many_requests="HTTP 429 (slow down)",
                    honour_retry_after=honour_retry_after)


def request(r: Retrying, answers: list, validate=lambda body: body, outcomes: list | None = None):
    """Send ``answers`` in turn (a Response, or an exception to raise); errors are ``Final(kind, reason)``."""
    def send(timeout):
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return r.request(send, validate, label="test", record=(outcomes if outcomes is not None else []).append,
                     refused=lambda status, snippet: Final("refused", status, snippet),
                     exhausted=lambda kind, reason, retries: Final(kind, reason, retries))


@pytest.mark.parametrize("honour, slept", [(True, 7.0), (False, None)])
def test_retry_after_only_where_the_client_honours_it(honour, slept):
    sleeps: list = []
    r = retrying(sleeps, honour_retry_after=honour)
    assert request(r, [response(503, **{"Retry-After": "7"}), response(200)]) == b"ok"
    assert len(sleeps) == 1 and r.requests_made == 2
    if slept:
        assert sleeps == [slept]
    else:
        assert 0.5 <= sleeps[0] <= 0.55  # backoff × 1 plus ≤10 % jitter


def test_retry_after_is_capped_and_an_http_date_falls_back_to_backoff():
    sleeps: list = []
    r = retrying(sleeps, honour_retry_after=True)
    answers = [response(429, **{"Retry-After": "3600"}),
               response(503, **{"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), response(200)]
    request(r, answers)
    assert sleeps[0] == MAX_BACKOFF and 1.0 <= sleeps[1] <= 1.1


def test_other_statuses_are_refused_at_once_with_a_one_line_snippet():
    sleeps: list = []
    r = retrying(sleeps)
    with pytest.raises(Final) as err:
        request(r, [response(404, b"  no such\nendpoint " + b"x" * 300)])
    kind, status, snippet = err.value.args
    assert (kind, status, r.requests_made, sleeps) == ("refused", 404, 1, [])
    assert snippet.startswith("no such endpoint x") and "\n" not in snippet and len(snippet) <= 200


def test_unusable_bodies_are_retried_other_validate_errors_are_final():
    sleeps: list = []
    r = retrying(sleeps)

    def unusable(body):
        raise UnusableBody(f"unusable {body.decode()}")

    with pytest.raises(Final) as err:
        request(r, [response(200, b"a"), response(200, b"b"), response(200, b"c")], unusable)
    assert err.value.args == ("body", "unusable c", 2) and r.requests_made == 3

    def final(body):
        raise KeyError("final")

    with pytest.raises(KeyError):
        request(r, [response(200)], final)
    assert r.requests_made == 4  # one more attempt, not retried


def test_exhausted_errors_carry_no_requests_exception():
    """A requests exception's text holds the full URL, API key included: it must not ride along."""
    r = retrying([])
    outcomes: list = []
    answers = [requests.exceptions.ConnectTimeout("http://x/?api_key=K"),
               requests.exceptions.ReadTimeout("http://x/?api_key=K"),
               requests.exceptions.ConnectionError("http://x/?api_key=K")]
    with pytest.raises(Final) as err:
        request(r, answers, outcomes=outcomes)
    assert err.value.args == ("connection", "ConnectionError", 2)  # classified; the URL (with its key) is not quoted
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert outcomes == ["timeout", "timeout", "connection"]


def test_backoff_doubles_with_jitter_and_is_capped():
    r = retrying([], backoff=10.0)
    assert [10.0 <= r.backoff(0) <= 11.0, 20.0 <= r.backoff(1) <= 22.0, r.backoff(3)] == [True, True, MAX_BACKOFF]


def test_a_pacer_with_no_interval_never_waits():
    def clock():
        raise AssertionError("not asked")

    pacer = Pacer(0.0, sleep=lambda s: pytest.fail("slept"), clock=clock)
    pacer.wait()
    pacer.wait()
