"""PubMedClient against the replay server over real HTTP on 127.0.0.1, with injected faults.

Retries and pacing sleep through a FakeClock, so backoff and rate limits cost no wall time; only the
read-timeout tests wait (a few tenths of a second).
"""
from __future__ import annotations

import logging
import math

import pytest
import requests

from ldn_monitor.errors import BadResponse, IncompleteResult, RateLimited, ServerError, SettingsError
from ldn_monitor.pubmed import PACING_MARGIN, HistoryExpired, PubMedClient, SearchResult, check_efetch, parse_esearch
from ldn_monitor.replay import ReplayServer
from ldn_monitor.settings import EUTILS_URL, Settings
from replay_helpers import SAMPLE_EDATS, SAMPLES, FakeClock, copy_samples, fast_settings, make_records, spread

pytestmark = pytest.mark.faults

KEY = "SECRET-api-key-0123456789abcdef"
WINDOW_7 = ("1977/01/01", "2025/12/31")  # every real sample but PMID 9997 (EDAT 1976-09-28)
PMIDS_7 = {p for p in SAMPLE_EDATS if p != "9997"}


@pytest.fixture
def samples(tmp_path):
    with ReplayServer(copy_samples(tmp_path / "snap")) as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def make_client(server_or_url, clock, **changes):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
    changes.setdefault("rate", 1e6)  # pacing sleeps of a microsecond: backoff sleeps stand out
    return PubMedClient(fast_settings(url, **changes), sleep=clock.sleep, clock=clock)


def fetch_all(client, term="naltrexone", window=WINDOW_7):
    batches = list(client.fetch_window(term, *window))
    pmids = [a.pmid for b in batches for a in b.articles]
    return batches, pmids


def endpoint_calls(server, endpoint):
    return [params for path, params in server.requests if path.endswith(endpoint + ".fcgi")]


# --------------------------------------------------------------------------- body parsing
def test_parse_esearch_real_samples():
    sr = parse_esearch((SAMPLES / "esearch1.xml").read_bytes())
    assert (sr.count, sr.retmax, sr.retstart, len(sr.ids), sr.webenv) == (63, 20, 0, 20, None)
    sr = parse_esearch((SAMPLES / "esearch2.xml").read_bytes())
    assert sr.webenv == "MCID_6927d6e7fee3e90f880ec190" and sr.query_key == "1" and sr.count == 42249
    assert parse_esearch((SAMPLES / "esearch3.xml").read_bytes()).retstart == 6
    sr = parse_esearch((SAMPLES / "esearch8.xml").read_bytes())  # no hits: a warning, not an error
    assert sr.count == 0 and sr.ids == ()
    assert sr.warnings == ("PhraseNotFound: abcXYZ", "OutputMessage: No items found.")


@pytest.mark.parametrize("body, words", [
    ((SAMPLES / "epost2.xml").read_bytes(), "Invalid db name"),
    ((SAMPLES / "epost3.xml").read_bytes(), "Empty ID list"),
    (b"<!DOCTYPE html><html><body>Error</body></html>", "HTML page"),
    (b"", "empty body"),
    (b"  \n", "empty body"),
    ((SAMPLES / "esearch2.xml").read_bytes()[:600], "truncated or malformed"),
    (b'{"error":"API rate limit exceeded","count":"11"}', "truncated or malformed"),
    ((SAMPLES / "pubmed1.xml").read_bytes(), "not an eSearchResult"),
])
def test_parse_esearch_rejects_bad_bodies(body, words):
    with pytest.raises(BadResponse, match=words):
        parse_esearch(body)


def test_parse_esearch_takes_no_entities_and_no_network():
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<eSearchResult><Count>1</Count><RetMax>1</RetMax><RetStart>0</RetStart>"
            b"<IdList><Id>1</Id></IdList><QueryTranslation>&e;</QueryTranslation></eSearchResult>")
    sr = parse_esearch(evil)  # parses without expanding the external entity
    assert sr.ids == ("1",)


def test_check_efetch_classifies_error_bodies():
    expired = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n\t<ERROR>Unable to obtain query #1'
               b"</ERROR>\n</eFetchResult>\n")
    with pytest.raises(HistoryExpired):
        check_efetch(expired)
    assert issubclass(HistoryExpired, IncompleteResult)
    with pytest.raises(BadResponse, match="Search Backend failed"):
        check_efetch(b"<eFetchResult><ERROR>Search Backend failed: oops</ERROR></eFetchResult>")
    assert check_efetch(b'<?xml version="1.0" ?>\n<PubmedArticleSet>\n</PubmedArticleSet>\n').articles == ()
    assert [a.pmid for a in check_efetch((SAMPLES / "pubmed2.xml").read_bytes()).articles] == ["11748933",
                                                                                                "11700088"]


# --------------------------------------------------------------------------- the happy path
def test_paging_one_esearch_then_batches(samples, clock):
    client = make_client(samples, clock, batch_size=2)
    batches, pmids = fetch_all(client)
    assert sorted(pmids) == sorted(PMIDS_7) and len(pmids) == len(set(pmids))  # every PMID once
    assert [len(b.articles) for b in batches] == [2, 2, 2, 1]
    assert client.requests_made == 5 == 1 + math.ceil(7 / 2)
    assert client.log == [("esearch", 200)] + [("efetch", 200)] * 4


def test_history_is_used_ids_are_not_sent(samples, clock):
    client = make_client(samples, clock, batch_size=3)
    fetch_all(client)
    (search,) = endpoint_calls(samples, "esearch")
    assert search["usehistory"] == "y" and search["retmax"] == "0" and search["datetype"] == "edat"
    assert (search["mindate"], search["maxdate"]) == WINDOW_7
    fetches = endpoint_calls(samples, "efetch")
    assert [f["retstart"] for f in fetches] == ["0", "3", "6"]
    for f in fetches:
        assert f["WebEnv"].startswith("MCID_") and f["query_key"] == "1" and f["retmax"] == "3"
        assert f["retmode"] == "xml" and f["db"] == "pubmed" and "id" not in f


def test_date_window_is_inclusive(tmp_path, clock):
    edats = spread(12, per_day=3)  # 2024/01/01 .. 2024/01/04, three records a day
    make_records(tmp_path, edats)
    with ReplayServer(tmp_path) as server:
        batches, pmids = fetch_all(make_client(server, clock), window=("2024/01/02", "2024/01/03"))
    assert sorted(pmids) == sorted(p for p, d in edats.items() if d in ("2024/01/02", "2024/01/03"))
    assert {a.entrez_date for b in batches for a in b.articles} == {"2024-01-02", "2024-01-03"}


def test_empty_window_costs_one_request_and_logs_the_warning(samples, clock, caplog):
    client = make_client(samples, clock)
    with caplog.at_level(logging.WARNING, logger="ldn_monitor.pubmed"):
        batches, _ = fetch_all(client, term="naltrexone NOTHING_MATCHES")
    assert batches == [] and client.requests_made == 1
    assert "PhraseNotFound: NOTHING_MATCHES" in caplog.text


def test_window_split_past_the_search_horizon(tmp_path, clock):
    edats = spread(12, per_day=3)
    make_records(tmp_path, edats)
    with ReplayServer(tmp_path, max_esearch_ids=5) as server:
        client = PubMedClient(fast_settings(server.url, batch_size=2, rate=1e6), sleep=clock.sleep, clock=clock,
                              max_search_ids=5)
        _, pmids = fetch_all(client, window=("2024/01/01", "2024/01/04"))
        windows = [(p["mindate"], p["maxdate"]) for p in endpoint_calls(server, "esearch")]
    assert sorted(pmids) == sorted(edats) and len(pmids) == 12
    # 12 > 5: split into halves of 6, then single days of 3.
    assert windows[0] == ("2024/01/01", "2024/01/04")
    assert {("2024/01/01", "2024/01/01"), ("2024/01/04", "2024/01/04")} <= set(windows)


def test_a_single_day_past_the_horizon_is_incomplete(tmp_path, clock):
    make_records(tmp_path, spread(6, per_day=6))
    with ReplayServer(tmp_path, max_esearch_ids=5) as server:
        client = PubMedClient(fast_settings(server.url, rate=1e6), sleep=clock.sleep, clock=clock, max_search_ids=5)
        with pytest.raises(IncompleteResult, match="6 records .* 2024/01/01, more than the 5"):
            fetch_all(client, window=("2024/01/01", "2024/01/31"))


def test_batches_are_logged(samples, clock, caplog):
    with caplog.at_level(logging.INFO, logger="ldn_monitor.pubmed"):
        fetch_all(make_client(samples, clock, batch_size=4))
    assert "ESearch 1977/01/01–2025/12/31: 7 records" in caplog.text
    assert "retstart=4: 3 articles, 0 deleted (7/7 delivered)" in caplog.text


# --------------------------------------------------------------------------- retries
def _backoff_sleeps(clock):
    return [s for s in clock.sleeps if s >= 0.005]  # pacing sleeps here are ~1 µs


def test_429_burst_then_success(samples, clock):
    samples.inject("429", times=3, endpoint="esearch")
    client = make_client(samples, clock, batch_size=4)
    _, pmids = fetch_all(client)
    assert sorted(pmids) == sorted(PMIDS_7)
    assert client.log[:4] == [("esearch", 429)] * 3 + [("esearch", 200)]
    b = _backoff_sleeps(clock)
    assert len(b) == 3  # exponential: backoff × 1, 2, 4 (+ ≤10 % jitter)
    for got, want in zip(b, (0.01, 0.02, 0.04)):
        assert want <= got <= want * 1.1 + 1e-9


@pytest.mark.parametrize("code", ["500", "502", "503", "504"])
@pytest.mark.parametrize("endpoint", ["esearch", "efetch"])
def test_5xx_then_success(samples, clock, code, endpoint):
    samples.inject(code, times=2, endpoint=endpoint)
    client = make_client(samples, clock, batch_size=4)
    _, pmids = fetch_all(client)
    assert sorted(pmids) == sorted(PMIDS_7)
    assert client.log.count((endpoint, int(code))) == 2 and client.requests_made == 3 + 2


def test_429_exhausted_is_rate_limited(samples, clock):
    samples.inject("429", times=50)
    client = make_client(samples, clock, max_retries=3)
    with pytest.raises(RateLimited) as err:
        fetch_all(client)
    assert str(err.value) == ("PubMed E-utilities kept answering 429 after 3 retries; try again later or set "
                              "LDN_NCBI_API_KEY")
    assert client.requests_made == 4


def test_5xx_exhausted_is_server_error(samples, clock):
    samples.inject("503", times=50, endpoint="efetch")
    client = make_client(samples, clock, max_retries=2)
    with pytest.raises(ServerError, match=r"efetch kept failing after 2 retries \(last: HTTP 503\).*try again later"):
        fetch_all(client)
    assert client.log == [("esearch", 200)] + [("efetch", 503)] * 3


def test_connection_refused_is_server_error(tmp_path, clock):
    make_records(tmp_path, spread(2))
    server = ReplayServer(tmp_path).start()
    url = server.url
    server.stop()
    client = make_client(url, clock, max_retries=2)
    with pytest.raises(ServerError, match="connection refused.*LDN_EUTILS_URL"):
        client.esearch("naltrexone")
    assert client.requests_made == 3 and client.log == [("esearch", "connection")] * 3


def test_dropped_connection_is_retried(samples, clock):
    samples.inject("drop", times=2, endpoint="efetch")
    client = make_client(samples, clock, batch_size=4)
    _, pmids = fetch_all(client)
    assert sorted(pmids) == sorted(PMIDS_7) and client.log.count(("efetch", "connection")) == 2


def test_read_timeout_retried_then_server_error(tmp_path, clock):
    make_records(tmp_path, spread(3))
    with ReplayServer(tmp_path, slow_seconds=1.0) as server:
        server.inject("slow", times=1, endpoint="efetch")
        client = make_client(server, clock, timeout=0.25, max_retries=2)
        _, pmids = fetch_all(client, window=("2024", "2024"))
        assert len(pmids) == 3 and ("efetch", "timeout") in client.log  # transient: success

        server.inject("slow", times=3)
        client = make_client(server, clock, timeout=0.25, max_retries=2)
        with pytest.raises(ServerError, match="no answer.*0.25s read timeout.*LDN_TIMEOUT"):
            client.esearch("naltrexone")
        assert client.log == [("esearch", "timeout")] * 3


@pytest.mark.parametrize("kind", ["error_body", "html", "truncated", "malformed"])
@pytest.mark.parametrize("endpoint", ["esearch", "efetch"])
def test_bad_body_transient_then_success(samples, clock, kind, endpoint):
    samples.inject(kind, times=2, endpoint=endpoint)
    client = make_client(samples, clock, batch_size=4)
    _, pmids = fetch_all(client)
    assert sorted(pmids) == sorted(PMIDS_7)
    assert client.requests_made == 3 + 2  # retried, never read as "no records"


@pytest.mark.parametrize("kind, words", [
    ("error_body", "Search Backend failed"), ("html", "HTML page"), ("truncated", "truncated or malformed"),
    ("malformed", "malformed"),
])
@pytest.mark.parametrize("endpoint", ["esearch", "efetch"])
def test_bad_body_persistent_is_bad_response(samples, clock, kind, words, endpoint):
    samples.inject(kind, times=50, endpoint=endpoint)
    client = make_client(samples, clock, max_retries=2)
    with pytest.raises(BadResponse, match=f"{endpoint} kept returning an unusable body after 2 retries") as err:
        fetch_all(client)
    assert words in str(err.value) and "not 'no new records'" in str(err.value)


def test_http_400_is_not_retried(tmp_path, clock):
    with ReplayServer(tmp_path) as server:
        server.add_route("/bad/", lambda m, p, q: (400, "text/plain", b"bad request: " + repr(q).encode()))
        client = make_client(server.base + "/bad/", clock, ncbi_api_key=KEY)
        with pytest.raises(BadResponse, match="HTTP 400.*not retried") as err:
            client.esearch("naltrexone")
    assert client.requests_made == 1
    assert KEY not in str(err.value)  # even when the server echoes the request back


# --------------------------------------------------------------------------- history and completeness
def test_expired_webenv_is_searched_again_and_resumed(samples, clock):
    client = make_client(samples, clock, batch_size=2)
    pmids = []
    for i, batch in enumerate(client.fetch_window("naltrexone", *WINDOW_7)):
        pmids += [a.pmid for a in batch.articles]
        if i == 0:
            samples.inject("expire_webenv", endpoint="efetch")  # the History server forgets mid-run
    assert sorted(pmids) == sorted(PMIDS_7) and len(pmids) == 7  # every record once
    starts = [(path.split("/")[-1], params.get("retstart")) for path, params in samples.requests]
    assert starts == [("esearch.fcgi", "0"), ("efetch.fcgi", "0"), ("efetch.fcgi", "2"), ("esearch.fcgi", "0"),
                      ("efetch.fcgi", "2"), ("efetch.fcgi", "4"), ("efetch.fcgi", "6")]
    webenvs = [p["WebEnv"] for p in endpoint_calls(samples, "efetch")]
    assert webenvs[0] == webenvs[1] != webenvs[2] == webenvs[4]


def test_expired_webenv_twice_is_incomplete(samples, clock):
    samples.inject("expire_webenv", times=2, endpoint="efetch")
    client = make_client(samples, clock, batch_size=2)
    with pytest.raises(IncompleteResult, match="lost the search for 1977/01/01–2025/12/31 twice"):
        fetch_all(client)


def test_count_mismatch_is_incomplete(samples, clock):
    samples.inject("count_mismatch")
    client = make_client(samples, clock, batch_size=2)
    with pytest.raises(IncompleteResult, match="counted 8 .* but EFetch delivered 7; stopping so the watermark"):
        fetch_all(client)


def test_count_mismatch_past_the_last_batch_stops_early(tmp_path, clock):
    make_records(tmp_path, spread(4))
    with ReplayServer(tmp_path, count_mismatch_extra=10) as server:
        server.inject("count_mismatch")
        client = make_client(server, clock, batch_size=2)
        with pytest.raises(IncompleteResult, match="counted 14 .* delivered 4"):
            fetch_all(client, window=("2024", "2024"))
        assert len(endpoint_calls(server, "efetch")) == 3  # 2 full batches, 1 empty, then stop


# --------------------------------------------------------------------------- full re-query and ids
def test_search_all_ids(samples, clock):
    client = make_client(samples, clock)
    assert client.search_all_ids("naltrexone") == sorted(SAMPLE_EDATS, key=SAMPLE_EDATS.get, reverse=True)
    assert client.requests_made == 1
    assert "usehistory" not in endpoint_calls(samples, "esearch")[0]


def test_search_all_ids_splits_past_the_horizon(tmp_path, clock):
    edats = spread(12, per_day=2)
    make_records(tmp_path, edats)
    with ReplayServer(tmp_path, max_esearch_ids=5) as server:
        client = PubMedClient(fast_settings(server.url, rate=1e6), sleep=clock.sleep, clock=clock, max_search_ids=5)
        ids = client.search_all_ids("naltrexone")
        assert sorted(ids) == sorted(edats) and len(ids) == 12
        server.inject("count_mismatch")  # the first, undated count says 13
        with pytest.raises(IncompleteResult, match="counted 13 .* date-split searches listed 12"):
            client.search_all_ids("naltrexone")
        # A client that believes the horizon is further away than it is fails at once, without retries.
        wrong = PubMedClient(fast_settings(server.url, rate=1e6), sleep=clock.sleep, clock=clock, max_search_ids=50)
        with pytest.raises(IncompleteResult, match="past PubMed's search horizon"):
            wrong.search_all_ids("naltrexone")
        assert wrong.requests_made == 2


def test_efetch_ids_get_post_and_deleted(tmp_path, clock):
    copy_samples(tmp_path)
    (tmp_path / "deleted.txt").write_text("424242\n")
    with ReplayServer(tmp_path) as server:
        client = make_client(server, clock)
        body = client.efetch_ids(["9997", "12091962"])
        assert server.request_log[-1][0] == "GET" and body.startswith(b'<?xml version="1.0" ?>')
        many = list(SAMPLE_EDATS) + [str(50000000 + i) for i in range(242)] + ["424242"]
        client.efetch_ids(many)
        method, _, params = server.request_log[-1]
        assert method == "POST" and params["id"].count(",") == 250 and params["tool"] == "ldn-monitor-tests"
        (result,) = client.fetch_ids(many)
        assert len(result.articles) == 8 and result.deleted == ("424242",)
    with pytest.raises(ValueError):
        client.efetch_ids(["12a"])


# --------------------------------------------------------------------------- etiquette and secrets
def test_tool_email_and_key_on_every_request(samples, clock):
    samples.inject("429", endpoint="esearch")
    samples.inject("500", endpoint="efetch")
    samples.inject("error_body", endpoint="efetch")
    client = make_client(samples, clock, ncbi_api_key=KEY, batch_size=3)
    fetch_all(client)
    client.efetch_ids([str(i) for i in range(1, 300)])  # POST
    client.search_all_ids("naltrexone")
    assert len(samples.requests) == client.requests_made >= 9
    for _, params in samples.requests:
        assert params["tool"] == "ldn-monitor-tests" and params["email"] == "tests@example.org"
        assert params["api_key"] == KEY


def test_no_email_or_key_params_when_unset(samples, clock):
    client = make_client(samples, clock, ncbi_email=None)
    client.esearch("naltrexone")
    (params,) = endpoint_calls(samples, "esearch")
    assert params["tool"] == "ldn-monitor-tests" and "email" not in params and "api_key" not in params


def test_api_key_never_leaks(tmp_path, clock, caplog):
    make_records(tmp_path, spread(2))
    server = ReplayServer(tmp_path).start()
    client = make_client(server, clock, ncbi_api_key=KEY, max_retries=1)
    with caplog.at_level(logging.DEBUG):
        server.inject("429", times=5)
        with pytest.raises(RateLimited) as limited:
            client.esearch("naltrexone")
        assert "try again later or lower LDN_RATE" in str(limited.value)
        server.stop()
        with pytest.raises(ServerError) as refused:
            client.esearch("naltrexone")
    for err in (limited.value, refused.value):
        assert KEY not in str(err) and KEY not in repr(err)
        assert err.__cause__ is None and err.__context__ is None  # no requests exception with the URL inside
    assert KEY not in repr(client) and "api_key=set" in repr(client)
    assert any("api_key=***" in r.getMessage() for r in caplog.records)  # urllib3's DEBUG line, redacted
    assert all(KEY not in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- pacing
@pytest.mark.parametrize("key, rate", [(None, 3.0), (KEY, 10.0)])
def test_pacing_of_request_starts(samples, key, rate):
    clock = FakeClock()
    settings = fast_settings(samples.url, rate=None, ncbi_api_key=key)
    assert settings.requests_per_second == rate
    client = PubMedClient(settings, sleep=clock.sleep, clock=clock)
    n = 7
    for _ in range(n):
        client.esearch("naltrexone")
    assert sum(clock.sleeps) >= (n - 1) / rate - 1e-9
    assert sum(clock.sleeps) <= (n - 1) * PACING_MARGIN / rate + 1e-6  # and no more than the margin
    assert all(abs(s - PACING_MARGIN / rate) < 1e-9 for s in clock.sleeps)


def test_pacing_with_real_time(samples):
    import time
    client = PubMedClient(fast_settings(samples.url, rate=20.0))
    t0 = time.monotonic()
    for _ in range(5):
        client.esearch("naltrexone")
    assert time.monotonic() - t0 >= 4 / 20 - 0.01


# --------------------------------------------------------------------------- settings
def test_real_ncbi_url_needs_an_email():
    with pytest.raises(SettingsError) as err:
        PubMedClient(Settings(eutils_url=EUTILS_URL, ncbi_email=None))
    assert str(err.value) == ("LDN_NCBI_EMAIL is not set: NCBI asks every E-utilities user for a contact email; "
                              "set LDN_NCBI_EMAIL=you@example.org")
    PubMedClient(Settings(eutils_url=EUTILS_URL, ncbi_email="me@example.org"))  # constructing sends nothing
    PubMedClient(Settings(eutils_url="http://127.0.0.1:9/entrez/eutils/"))  # a replay server needs none


def test_esearch_dates_come_together(samples, clock):
    client = make_client(samples, clock)
    with pytest.raises(ValueError, match="both mindate and maxdate"):
        client.esearch("x", mindate="2024/01/01")
    with pytest.raises(ValueError, match="not an Entrez date"):
        client.esearch("x", mindate="yesterday", maxdate="2024")
    assert client.requests_made == 0
    sr = client.esearch("x", mindate="2001/11", maxdate="2001/12", retmax=5)
    assert isinstance(sr, SearchResult) and sr.ids == ("11748933", "11700088")


def test_injected_session_and_retry_after_is_honoured(clock):
    """A Retry-After header (NCBI sends none today) lengthens the backoff; the session is injectable."""
    class FakeSession:
        def __init__(self):
            self.calls = []

        def get(self, url, params=None, timeout=None):
            self.calls.append((url, params, timeout))
            resp = requests.Response()
            resp.url = url
            if len(self.calls) == 1:
                resp.status_code, resp._content = 503, b"busy"
                resp.headers["Retry-After"] = "7"
            else:
                resp.status_code, resp._content = 200, (SAMPLES / "esearch1.xml").read_bytes()
            return resp

    session = FakeSession()
    client = PubMedClient(fast_settings("http://127.0.0.1:9/entrez/eutils/", rate=1e6, timeout=12.0),
                          session=session, sleep=clock.sleep, clock=clock)
    assert client.esearch("biopython").count == 63
    assert 7.0 in clock.sleeps
    url, params, timeout = session.calls[0]
    assert url == "http://127.0.0.1:9/entrez/eutils/esearch.fcgi" and timeout == (10.0, 12.0)
