"""The E-utilities replay server, checked over HTTP with plain ``requests`` (no client logic in between)."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from lxml import etree

from ldn_monitor.parse import parse_efetch
from ldn_monitor.pubmed import parse_esearch
from ldn_monitor.replay import FAULTS, ReplayServer
from replay_helpers import SAMPLE_EDATS, SAMPLES, article_xml, copy_samples, make_records, spread, write_articles

pytestmark = pytest.mark.faults


def esearch(server, **params):
    params.setdefault("db", "pubmed")
    params.setdefault("term", "naltrexone")
    return requests.get(server.url + "esearch.fcgi", params=params, timeout=5)


def efetch(server, method="GET", **params):
    params.setdefault("db", "pubmed")
    params.setdefault("retmode", "xml")
    if method == "POST":
        return requests.post(server.url + "efetch.fcgi", data=params, timeout=5)
    return requests.get(server.url + "efetch.fcgi", params=params, timeout=5)


@pytest.fixture
def samples(tmp_path):
    with ReplayServer(copy_samples(tmp_path / "snap")) as server:
        yield server


@pytest.fixture
def spread_server(tmp_path):
    make_records(tmp_path, spread(12, per_day=3))  # 12 records, 3 per day over 4 days
    with ReplayServer(tmp_path) as server:
        yield server


# --------------------------------------------------------------------------- binding and lifecycle
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", ""])
def test_refuses_non_loopback_hosts(tmp_path, host):
    with pytest.raises(ValueError, match="127.0.0.1 only"):
        ReplayServer(tmp_path, host=host)


def test_binds_loopback_and_url_shape(tmp_path):
    with ReplayServer(tmp_path) as server:
        assert server._httpd.server_address[0] == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}/entrez/eutils/"
        assert server.port > 0
    # stopped: nothing listens any more
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "esearch.fcgi", params={"term": "x"}, timeout=2)


def test_stop_hangs_up_keepalive_connections(tmp_path):
    make_records(tmp_path, spread(2))
    session = requests.Session()
    server = ReplayServer(tmp_path).start()
    assert session.get(server.url + "esearch.fcgi", params={"term": "x"}, timeout=5).ok
    server.stop()
    # The pooled keep-alive socket must not keep answering after stop().
    with pytest.raises(requests.ConnectionError):
        session.get(server.url + "esearch.fcgi", params={"term": "x"}, timeout=2)


# --------------------------------------------------------------------------- snapshot
def test_indexes_real_samples_with_their_entrez_dates(samples):
    assert sorted(samples.pmids) == sorted(SAMPLE_EDATS)
    # PubMed's order: most recent EDAT first.
    expected = sorted(SAMPLE_EDATS, key=lambda p: SAMPLE_EDATS[p], reverse=True)
    assert samples.pmids == expected


def test_later_file_and_higher_version_replace(tmp_path):
    write_articles(tmp_path / "a.xml", [article_xml(111, "2024/01/01", title="old title"),
                                        article_xml(222, "2024/01/01", title="v2 title", version=2)])
    write_articles(tmp_path / "b.xml", [article_xml(111, "2024/02/02", title="new title"),
                                        article_xml(222, "2024/01/01", title="v1 title", version=1)])
    with ReplayServer(tmp_path) as server:
        body = efetch(server, id="111,222").content
    titles = {a.pmid: a.title for a in parse_efetch(body).articles}
    assert titles == {"111": "new title", "222": "v2 title"}


def test_gzip_files_deleted_txt_and_reload(tmp_path):
    data = write_articles(tmp_path / "x.xml", [article_xml(p, "2024/03/0%d" % i) for i, p in enumerate((1, 2, 3), 1)])
    (tmp_path / "x.xml.gz").write_bytes(gzip.compress(data.read_bytes()))
    data.unlink()
    (tmp_path / "deleted.txt").write_text("2\n# comment\n")
    with ReplayServer(tmp_path) as server:
        assert sorted(server.pmids) == ["1", "3"]
        result = parse_efetch(efetch(server, id="1,2,999").content)
        assert [a.pmid for a in result.articles] == ["1"]
        assert result.deleted == ("2",)  # deleted: not searchable, and fetched by id it is a DeleteCitation
        make_records(tmp_path, {"4": "2024/03/04"}, name="y.xml")
        assert server.reload() == 3
        assert parse_esearch(esearch(server, retmax=10).content).ids == ("4", "3", "1")


def test_delete_citation_inside_a_later_file(tmp_path):
    make_records(tmp_path, {"5": "2024/01/01", "6": "2024/01/02"}, name="a.xml")
    write_articles(tmp_path / "b.xml", [], deleted=["5"])
    with ReplayServer(tmp_path) as server:
        assert server.pmids == ["6"]


def test_snapshot_record_without_dates_is_refused(tmp_path):
    xml = article_xml(7, "2024/01/01").replace("<History>", "<History><!--").replace("</History>", "--></History>")
    write_articles(tmp_path / "a.xml", [xml])
    with pytest.raises(ValueError, match="PMID 7 has no entrez"):
        ReplayServer(tmp_path)


# --------------------------------------------------------------------------- ESearch
def test_esearch_shaped_like_real_answer(samples):
    resp = esearch(samples, retmax=3, usehistory="y", datetype="edat", mindate="2000", maxdate="2025/12/31")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/xml")
    ours = etree.fromstring(resp.content)
    real = etree.fromstring((SAMPLES / "esearch2.xml").read_bytes())
    assert [c.tag for c in ours] == [c.tag for c in real]
    assert resp.content.startswith((SAMPLES / "esearch2.xml").read_bytes().split(b"<eSearchResult>")[0])
    sr = parse_esearch(resp.content)
    assert sr.count == 6 and sr.retmax == 3 and sr.ids == ("30108519", "29963580", "28775130")
    assert sr.webenv.startswith("MCID_") and sr.query_key == "1"
    assert "2000/01/01:2025/12/31[Date - Entry]" in ours.findtext("QueryTranslation")


def test_esearch_sorts_by_edat_then_pmid_desc(tmp_path):
    make_records(tmp_path, {"10": "2024/01/02", "30": "2024/01/01", "20": "2024/01/02", "5": "2024/01/03"})
    with ReplayServer(tmp_path) as server:
        assert parse_esearch(esearch(server, retmax=10).content).ids == ("5", "20", "10", "30")


def test_esearch_date_window_is_inclusive_and_takes_all_formats(spread_server):
    # days: 2024/01/01 (3), 01/02 (3), 01/03 (3), 01/04 (3)
    def count(mindate, maxdate):
        return parse_esearch(esearch(spread_server, datetype="edat", mindate=mindate, maxdate=maxdate).content).count
    assert count("2024/01/02", "2024/01/03") == 6
    assert count("2024/01/04", "2024/01/04") == 3
    assert count("2024/01", "2024/01") == 12
    assert count("2024", "2024") == 12
    assert count("2023", "2023/12/31") == 0


def test_esearch_reldate(tmp_path):
    from datetime import date
    make_records(tmp_path, {"1": "2024/06/10", "2": "2024/06/01", "3": "2024/05/01"})
    with ReplayServer(tmp_path, today=lambda: date(2024, 6, 10)) as server:
        assert parse_esearch(esearch(server, reldate=10, datetype="edat", retmax=5).content).ids == ("1", "2")


@pytest.mark.parametrize("params, message", [
    ({"mindate": "2024/01/01"}, "mindate and maxdate"),
    ({"maxdate": "2024/01/01"}, "mindate and maxdate"),
    ({"mindate": "yesterday", "maxdate": "2024"}, "Invalid date"),
    ({"term": ""}, "Empty term"),
    ({"db": "nothing"}, "Invalid db name"),
])
def test_esearch_errors_are_http_200_error_bodies(spread_server, params, message):
    resp = esearch(spread_server, **params)
    assert resp.status_code == 200
    assert b"<ERROR>" in resp.content and message.encode() in resp.content


def test_nothing_matches_convention(spread_server):
    sr = parse_esearch(esearch(spread_server, term="naltrexone AND NOTHING_MATCHES").content)
    assert sr.count == 0 and sr.ids == ()
    assert "PhraseNotFound: NOTHING_MATCHES" in sr.warnings


def test_pmid_terms_restrict_hits(spread_server):
    sr = parse_esearch(esearch(spread_server, term="30000001[pmid] OR 30000005[uid]", retmax=20).content)
    assert sr.ids == ("30000005", "30000001")


def test_retmax_default_and_horizon(tmp_path):
    make_records(tmp_path, spread(30))
    with ReplayServer(tmp_path, max_esearch_ids=25) as server:
        assert len(parse_esearch(esearch(server).content).ids) == 20  # default retmax 20
        sr = parse_esearch(esearch(server, retstart=20, retmax=100).content)
        assert sr.count == 30 and len(sr.ids) == 5  # never past the horizon (25 here, 9,999 on PubMed)
        resp = esearch(server, retstart=25, retmax=5)
        assert b"<ERROR>" in resp.content and b"cannot be larger than 24" in resp.content


def test_esearch_json(spread_server):
    data = esearch(spread_server, retmode="json", retmax=2, usehistory="y").json()["esearchresult"]
    assert data["count"] == "12" and data["retmax"] == "2" and len(data["idlist"]) == 2
    assert data["webenv"].startswith("MCID_") and data["querykey"] == "1"
    err = esearch(spread_server, retmode="json", term="").json()["esearchresult"]
    assert "ERROR" in err


def test_esearch_over_post(spread_server):
    resp = requests.post(spread_server.url + "esearch.fcgi", data={"db": "pubmed", "term": "x", "retmax": 3}, timeout=5)
    assert len(parse_esearch(resp.content).ids) == 3
    assert spread_server.request_log[-1][0] == "POST"


# --------------------------------------------------------------------------- EFetch
def test_efetch_by_ids_get_and_post(samples):
    for method in ("GET", "POST"):
        resp = efetch(samples, method=method, id="9997,12091962,1")
        assert resp.status_code == 200
        assert resp.content.startswith(
            b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January '
            b'2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>')
        result = parse_efetch(resp.content)
        assert [a.pmid for a in result.articles] == ["9997", "12091962"]  # requested order; unknown 1 absent
        assert result.articles[0].entrez_date == "1976-09-28"


def test_efetch_by_history(spread_server):
    sr = parse_esearch(esearch(spread_server, usehistory="y").content)
    body = efetch(spread_server, WebEnv=sr.webenv, query_key=sr.query_key, retstart=10, retmax=5).content
    got = [a.pmid for a in parse_efetch(body).articles]
    assert got == spread_server.pmids[10:12]
    past_end = parse_efetch(efetch(spread_server, WebEnv=sr.webenv, query_key=sr.query_key, retstart=50,
                                   retmax=5).content)
    assert past_end.articles == ()


def test_efetch_unknown_webenv_is_ncbi_error(spread_server):
    resp = efetch(spread_server, WebEnv="MCID_nope", query_key="1", retstart=0, retmax=5)
    assert resp.status_code == 200
    assert b"<eFetchResult>" in resp.content and b"<ERROR>Unable to obtain query #1</ERROR>" in resp.content


def test_efetch_without_ids_or_history(spread_server):
    assert b"Empty id list" in efetch(spread_server).content


# --------------------------------------------------------------------------- faults
@pytest.mark.parametrize("code", ["500", "502", "503", "504"])
def test_fault_http_status(spread_server, code):
    spread_server.inject(code)
    assert esearch(spread_server).status_code == int(code)
    assert esearch(spread_server).status_code == 200  # consumed


def test_fault_429_body_like_ncbi(spread_server):
    spread_server.inject("429", times=2)
    for _ in range(2):
        resp = esearch(spread_server)
        assert resp.status_code == 429 and resp.json() == {"error": "API rate limit exceeded", "count": "11"}
    assert esearch(spread_server).status_code == 200
    assert spread_server.faults_injected == 2


def test_faults_are_fifo_per_endpoint(spread_server):
    spread_server.inject("503", endpoint="efetch")
    spread_server.inject("502", endpoint="esearch")
    spread_server.inject("500")  # any endpoint
    assert esearch(spread_server).status_code == 502  # the efetch fault is skipped, not consumed
    assert esearch(spread_server).status_code == 500
    assert esearch(spread_server).status_code == 200
    assert efetch(spread_server, id="30000001").status_code == 503
    assert spread_server.faults_log == [("esearch", "502"), ("esearch", "500"), ("efetch", "503")]


def test_fault_bodies(spread_server):
    spread_server.inject("error_body", endpoint="esearch")
    assert b"<ERROR>Search Backend failed" in esearch(spread_server).content
    spread_server.inject("error_body", endpoint="efetch")
    assert b"<eFetchResult>" in efetch(spread_server, id="30000001").content
    spread_server.inject("html")
    resp = esearch(spread_server)
    assert resp.status_code == 200 and resp.content.lstrip().lower().startswith(b"<!doctype html")
    for kind in ("truncated", "malformed"):
        spread_server.inject(kind, endpoint="efetch")
        resp = efetch(spread_server, id="30000001,30000002")
        assert resp.status_code == 200 and resp.content.startswith(b"<?xml")
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(resp.content)


def test_fault_drop_and_slow(tmp_path):
    make_records(tmp_path, spread(2))
    with ReplayServer(tmp_path, slow_seconds=1.0) as server:
        server.inject("drop")
        with pytest.raises(requests.ConnectionError):
            esearch(server)
        server.inject("slow")
        with pytest.raises(requests.ReadTimeout):
            requests.get(server.url + "esearch.fcgi", params={"term": "x"}, timeout=(1, 0.2))
        server.slow_seconds = 0.05
        server.inject("slow")
        assert esearch(server).status_code == 200


def test_fault_expire_webenv_and_count_mismatch(spread_server):
    sr = parse_esearch(esearch(spread_server, usehistory="y").content)
    spread_server.inject("expire_webenv", endpoint="efetch")
    assert b"Unable to obtain query #1" in efetch(spread_server, WebEnv=sr.webenv, query_key="1").content
    spread_server.inject("count_mismatch")  # endpoint=None means esearch for this one
    assert spread_server.pending_faults == [("count_mismatch", 1, "esearch")]
    bad = parse_esearch(esearch(spread_server, retmax=20).content)
    assert bad.count == 13 and len(bad.ids) == 12


def test_unknown_fault_and_clear(spread_server):
    with pytest.raises(ValueError, match="unknown fault"):
        spread_server.inject("teapot")
    spread_server.inject("500", times=5)
    spread_server.random_faults(1.0, seed=1)
    spread_server.clear_faults()
    assert esearch(spread_server).status_code == 200
    assert set(FAULTS) >= {"429", "500", "502", "503", "error_body", "html", "truncated", "malformed", "slow",
                           "drop", "expire_webenv", "count_mismatch"}


def test_random_faults_are_seeded(tmp_path):
    make_records(tmp_path, spread(3))

    def run():
        with ReplayServer(tmp_path) as server:
            server.random_faults(0.5, seed=42, kinds=("500", "503", "html"))
            statuses = []
            for _ in range(30):
                r = esearch(server)
                statuses.append(r.status_code if r.status_code != 200 or b"<html" not in r.content else "html")
            return statuses, server.faults_injected, list(server.faults_log)
    first, second = run(), run()
    assert first == second
    statuses, injected, log = first
    assert 5 < injected < 25 and injected == len(log) == sum(1 for s in statuses if s != 200)


def test_rate_limit_gives_real_429s(tmp_path):
    make_records(tmp_path, spread(2))
    with ReplayServer(tmp_path, rate_limit=3) as server:
        codes = [esearch(server).status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        assert server.rate_limited >= 1 and server.faults_injected == 0
        time.sleep(1.05)
        assert esearch(server).status_code == 200


def test_requests_are_recorded(spread_server):
    esearch(spread_server, tool="t", email="e@example.org")
    path, params = spread_server.requests[-1]
    assert path == "/entrez/eutils/esearch.fcgi" and params["tool"] == "t" and params["email"] == "e@example.org"


# --------------------------------------------------------------------------- pluggable routes
def test_add_route_and_faults_on_it(spread_server):
    seen = []

    def studies(method, path, params):
        seen.append((method, path, params))
        return 200, "application/json", json.dumps({"studies": [], "path": path}).encode()

    spread_server.add_route("/api/v2/", studies, name="ctgov")
    assert spread_server.routes == {"/api/v2/": "ctgov"}
    url = spread_server.base + "/api/v2/studies"
    assert requests.get(url, params={"query.intr": "naltrexone"}, timeout=5).json()["path"] == "/api/v2/studies"
    assert seen[-1][2] == {"query.intr": "naltrexone"}
    spread_server.inject("503")  # endpoint=None: any route
    assert requests.get(url, timeout=5).status_code == 503
    spread_server.inject("502", endpoint="ctgov")
    assert esearch(spread_server).status_code == 200
    assert requests.get(url, timeout=5).status_code == 502
    assert requests.get(spread_server.base + "/nowhere", timeout=5).status_code == 404


def test_route_handler_exception_is_500(spread_server):
    def broken(method, path, params):
        raise RuntimeError("boom")
    spread_server.add_route("/broken/", broken)
    assert requests.get(spread_server.base + "/broken/x", timeout=5).status_code == 500


# --------------------------------------------------------------------------- standalone
def test_standalone_module_prints_url_and_stops_on_ctrl_c(tmp_path, port):
    make_records(tmp_path, spread(3))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDN_")}
    proc = subprocess.Popen([sys.executable, "-m", "ldn_monitor.replay", "--snapshot", str(tmp_path),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1], env=env)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/entrez/eutils/" in line and "3 records" in line
        resp = requests.get(f"http://127.0.0.1:{port}/entrez/eutils/esearch.fcgi", params={"term": "x"}, timeout=5)
        assert parse_esearch(resp.content).count == 3
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_non_articleset_xml_files_are_skipped(tmp_path):
    make_records(tmp_path, {"8": "2024/01/01"})
    (tmp_path / "notes.xml").write_text("<notes><note>not PubMed</note></notes>")
    with ReplayServer(tmp_path) as server:
        assert server.pmids == ["8"]
