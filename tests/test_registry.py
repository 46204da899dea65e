"""ClinicalTrials.gov watch (issue 8): client paging and faults over real HTTP (the replay server's
``/api/v2/studies`` route), incremental windows, change events, PubMed links, the publication-bias
signal, the registry assessment, and the demo snapshot.

Speed: pacing is off (``min_interval=0``) and backoff is 1 ms, so the whole file runs in about a second.
"""
from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest
import requests

from ldn_monitor import registry_store as rs
from ldn_monitor.ctgov_replay import mount
from ldn_monitor.errors import RegistryError
from ldn_monitor.records import Article
from ldn_monitor.registry import CTGovClient, FIELDS
from ldn_monitor.registry_assess import assess_registry, registry_record
from ldn_monitor.replay import ReplayServer
from ldn_monitor.settings import Settings
from ldn_monitor.store import Store

TODAY = date(2026, 11, 25)
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers

def study(nct: str, *, status: str = "RECRUITING", updated: str = "2026-01-10", n: int = 120,
          n_type: str = "ESTIMATED", allocation: str | None = "RANDOMIZED", model: str = "PARALLEL",
          masking: str | None = "QUADRUPLE", arms=("EXPERIMENTAL", "PLACEBO_COMPARATOR"),
          completion: str | None = "2027-06", has_results: bool = False, results_posted: str | None = None,
          conditions=("Fibromyalgia",), dose: str = "Naltrexone 4.5 mg once daily for 12 weeks",
          title: str | None = None, drug: str = "Low-dose naltrexone") -> dict:
    """A v2 study shaped like the API's, with just the parts that matter for a test."""
    info: dict = {"interventionModel": model}
    if allocation:
        info["allocation"] = allocation
    if masking:
        info["maskingInfo"] = {"masking": masking}
    status_module = {"overallStatus": status, "lastUpdatePostDateStruct": {"date": updated, "type": "ACTUAL"},
                     "studyFirstPostDateStruct": {"date": "2025-01-05", "type": "ACTUAL"}}
    if completion:
        status_module["completionDateStruct"] = {"date": completion, "type": "ACTUAL"}
    if results_posted:
        status_module["resultsFirstPostDateStruct"] = {"date": results_posted, "type": "ACTUAL"}
    labels = {"EXPERIMENTAL": drug, "PLACEBO_COMPARATOR": "Placebo",
              "ACTIVE_COMPARATOR": "Duloxetine", "NO_INTERVENTION": "Usual care"}
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": title or f"LDN trial {nct}"},
            "statusModule": status_module,
            "conditionsModule": {"conditions": list(conditions)},
            "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"], "designInfo": info,
                             "enrollmentInfo": {"count": n, "type": n_type}},
            "armsInterventionsModule": {
                "armGroups": [{"label": labels.get(t, t), "type": t} for t in arms],
                "interventions": [{"type": "DRUG", "name": drug, "description": dose}],
            },
            "outcomesModule": {"primaryOutcomes": [{"measure": "pain", "timeFrame": "Baseline to week 12"}]},
        },
        "hasResults": has_results,
    }


def write(folder: Path, *studies: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in studies:
        nct = s["protocolSection"]["identificationModule"]["nctId"]
        (folder / f"{nct}.json").write_text(json.dumps(s), encoding="utf-8")


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "ctgov"
    d.mkdir()
    return d


@pytest.fixture
def server(folder):
    with ReplayServer(None) as srv:
        srv.ctgov = mount(srv, folder)
        yield srv


def settings_for(server, tmp_path, **changes) -> Settings:
    values = dict(db=tmp_path / "ldn.db", ctgov_url=server.base + "/api/v2/", timeout=2.0, max_retries=3,
                  backoff=0.001, overlap_days=3)
    values.update(changes)
    return Settings(**values)


def client_for(settings, **kw) -> CTGovClient:
    return CTGovClient(settings, min_interval=0, **kw)  # pacing off: the replay has no crawl delay


def studies_requests(server) -> list[dict]:
    return [p for path, p in server.requests if path == "/api/v2/studies"]


# --------------------------------------------------------------------------- client

def test_paging_follows_tokens_each_page_once(server, folder, tmp_path):
    write(folder, *(study(f"NCT0000000{i}") for i in range(1, 6)))
    server.ctgov.reload()
    client = client_for(settings_for(server, tmp_path), page_size=2)
    got = [s["protocolSection"]["identificationModule"]["nctId"] for s in client.iter_studies(None)]
    assert got == [f"NCT0000000{i}" for i in range(1, 6)]
    reqs = studies_requests(server)
    assert len(reqs) == 3 and client.requests_made == 3 and client.total_count == 5
    tokens = [r.get("pageToken") for r in reqs]
    assert tokens[0] is None and len(set(tokens)) == 3  # each page asked for exactly once
    first = reqs[0]
    assert first["pageSize"] == "2" and first["countTotal"] == "true" and "filter.advanced" not in first
    assert "low dose naltrexone" in first["query.intr"] and "LDN" in first["query.intr"]
    assert first["fields"] == ",".join(FIELDS)


def test_sparse_fields_are_enough_for_the_assessment(server, folder, tmp_path):
    # The replay honours dotted `fields`, so a field the assessment reads but the client forgot to ask
    # for would show up here as a missing value.
    write(folder, study("NCT00000001"))
    server.ctgov.reload()
    raw = next(client_for(settings_for(server, tmp_path)).iter_studies(None))
    full = registry_record(study("NCT00000001"))
    assert registry_record(raw) == full


def test_missing_page_is_an_error_not_fewer_trials(server, folder, tmp_path, monkeypatch):
    write(folder, *(study(f"NCT0000000{i}") for i in range(1, 4)))
    server.ctgov.reload()
    real = server.ctgov._search

    def lying(params):  # announces 5 studies, delivers 3
        body = real(params)
        if "totalCount" in body:
            body["totalCount"] = 5
        return body
    monkeypatch.setattr(server.ctgov, "_search", lying)
    with pytest.raises(RegistryError, match="announced 5 studies but delivered 3"):
        list(client_for(settings_for(server, tmp_path)).iter_studies(None))


def test_nothing_matches_and_bad_filter(server, folder, tmp_path):
    write(folder, study("NCT00000001"))
    server.ctgov.reload()
    client = client_for(settings_for(server, tmp_path), query="NOTHING_MATCHES")
    assert list(client.iter_studies(None)) == [] and client.total_count == 0
    url = server.base + "/api/v2/studies"
    assert requests.get(url, params={"filter.advanced": "AREA[Phase]PHASE3"}, timeout=5).status_code == 400
    assert requests.get(url, params={"pageToken": "bogus"}, timeout=5).status_code == 400
    one = requests.get(url + "/NCT00000001", timeout=5).json()
    assert one["protocolSection"]["identificationModule"]["nctId"] == "NCT00000001"


def test_429_then_success(server, folder, tmp_path):
    write(folder, study("NCT00000001"))
    server.ctgov.reload()
    server.inject("429", times=1, endpoint="ctgov")
    client = client_for(settings_for(server, tmp_path))
    assert len(list(client.iter_studies(None))) == 1
    assert client.requests_made == 2 and client.log == [429, 200]


def test_retry_after_is_honoured(tmp_path):
    """A 429 that says when to come back is obeyed (both clients share one retry policy)."""
    calls, slept = [], []

    class OneBusySession:
        def get(self, url, params=None, timeout=None, headers=None):
            calls.append(url)
            resp = requests.Response()
            resp.url = url
            if len(calls) == 1:
                resp.status_code, resp._content = 429, b"slow down"
                resp.headers["Retry-After"] = "9"
            else:
                resp.status_code, resp._content = 200, json.dumps({"studies": [study("NCT00000001")]}).encode()
            return resp

    client = CTGovClient(Settings(db=tmp_path / "x.db", max_retries=2), session=OneBusySession(), sleep=slept.append,
                         min_interval=0)
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in client.iter_studies(None)] == ["NCT00000001"]
    assert 9.0 in slept and len(calls) == 2


@pytest.mark.parametrize("fault", ["500", "html", "truncated", "drop"])
def test_persistent_fault_raises_registry_error(server, folder, tmp_path, fault):
    write(folder, study("NCT00000001"))
    server.ctgov.reload()
    server.inject(fault, times=50)  # endpoint=None: the server's faults reach every route
    client = client_for(settings_for(server, tmp_path, max_retries=2))
    with pytest.raises(RegistryError, match="try again later") as err:
        list(client.iter_studies(None))
    assert client.requests_made == 3
    if fault == "html":
        assert "HTML page" in str(err.value)


def test_400_is_not_retried(server, tmp_path):
    client = client_for(settings_for(server, tmp_path))
    with pytest.raises(RegistryError, match="HTTP 400.*not retried"):
        client._get({"filter.advanced": "AREA[Phase]PHASE3"})  # a query the API rejects
    assert client.requests_made == 1


def test_connection_refused(tmp_path):
    from conftest import free_port

    s = Settings(db=tmp_path / "x.db", ctgov_url=f"http://127.0.0.1:{free_port()}/api/v2/", max_retries=1,
                 backoff=0.001, timeout=1.0)
    with pytest.raises(RegistryError, match="could not reach ClinicalTrials.gov.*LDN_CTGOV_URL"):
        list(client_for(s).iter_studies(None))


def test_pacing_spaces_request_starts():
    slept = []
    clock = iter([0.0, 0.2, 1.0, 1.1]).__next__
    c = CTGovClient(Settings(), sleep=slept.append, clock=clock)  # default: the 1 s crawl delay
    c._pace()
    c._pace()
    assert slept == [pytest.approx(0.8)]


# --------------------------------------------------------------------------- polling and events

def test_first_poll_fetches_all_then_incremental_window(server, folder, tmp_path):
    write(folder, study("NCT00000001", updated="2024-05-01"), study("NCT00000002", updated="2026-11-20"))
    server.ctgov.reload()
    s = settings_for(server, tmp_path)
    first = rs.poll(s, 1, client_for(s), today=TODAY)
    assert first["fetched"] == 2 and first["new"] == 2 and first["since"] is None
    assert "filter.advanced" not in studies_requests(server)[-1]
    with Store(s.db) as st:
        assert st.get_watermark("ctgov") == "2026-11-25"

    write(folder, study("NCT00000003", updated="2026-11-27"))
    server.ctgov.reload()
    second = rs.poll(s, 2, client_for(s), today=date(2026, 11, 28))
    # from the watermark minus the overlap: the trial updated in 2024 is not fetched again
    assert studies_requests(server)[-1]["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-11-22,MAX]"
    assert second["fetched"] == 1 and second["new"] == 1
    with Store(s.db) as st:
        assert st.get_watermark("ctgov") == "2026-11-28"
        assert st.count("trials") == 3


def test_status_and_enrollment_changes_are_events(server, folder, tmp_path):
    write(folder, study("NCT00000001", status="RECRUITING", n=120, n_type="ESTIMATED", updated="2026-06-01"))
    server.ctgov.reload()
    s = settings_for(server, tmp_path)
    rs.poll(s, 1, client_for(s), today=date(2026, 6, 2))
    write(folder, study("NCT00000001", status="COMPLETED", n=98, n_type="ACTUAL", updated="2026-11-20",
                        completion="2026-10-30", has_results=True, results_posted="2026-11-20"))
    server.ctgov.reload()
    counts = rs.poll(s, 2, client_for(s), today=TODAY)
    assert counts["updated"] == 1
    with Store(s.db) as st:
        evs = [(e["event"], e["old"], e["new"], e["run_id"]) for e in rs.events(st.db, "NCT00000001")]
    assert evs == [
        ("first_seen", None, "RECRUITING", 1),
        ("status_changed", "RECRUITING", "COMPLETED", 2),
        ("completed", "RECRUITING", "2026-10-30", 2),
        ("enrollment_changed", "120 ESTIMATED", "98 ACTUAL", 2),
        ("results_posted", None, "2026-11-20", 2),
    ]
    # the same record again (a re-poll of an overlapping window): no event, no update
    same = json.loads((folder / "NCT00000001.json").read_text())
    with Store(s.db) as st:
        again = rs.upsert_studies(st.db, [same], 3, TODAY)
    assert again == {"new": 0, "updated": 0, "unchanged": 1, "events": 0}


def test_first_sight_of_an_old_completion_is_not_news(server, folder, tmp_path):
    write(folder, study("NCT00000001", status="COMPLETED", completion="2019-03", n_type="ACTUAL",
                        has_results=True, results_posted="2020-01-10"),
          study("NCT00000002", status="COMPLETED", completion="2026-08-01", n_type="ACTUAL"))
    server.ctgov.reload()
    s = settings_for(server, tmp_path)
    rs.poll(s, 1, client_for(s), today=TODAY)
    with Store(s.db) as st:
        kinds = {(e["nct_id"], e["event"]) for e in rs.events(st.db)}
    assert ("NCT00000001", "completed") not in kinds and ("NCT00000001", "results_posted") not in kinds
    assert ("NCT00000002", "completed") in kinds


def test_failed_poll_keeps_watermark_and_pipeline_goes_on(server, folder, tmp_path):
    from ldn_monitor.pipeline import RunPlan, poll_registry

    write(folder, study("NCT00000001"))
    server.ctgov.reload()
    s = settings_for(server, tmp_path, max_retries=1)
    rs.poll(s, 1, client_for(s), today=date(2026, 11, 1))
    server.inject("503", times=10)
    with pytest.raises(RegistryError):
        rs.poll(s, 2, client_for(s), today=TODAY)
    with Store(s.db) as st:
        assert st.get_watermark("ctgov") == "2026-11-01"
    # The monitor's registry step reports the outage instead of failing the PubMed part.
    out = poll_registry(s, RunPlan(3, "2026/11/01", "2026/11/25", "poll", "test"), client_for(s))
    assert "ClinicalTrials.gov" in out["error"]


# --------------------------------------------------------------------------- links, studies, signals

def _poll(server, folder, tmp_path, *studies_json, today=TODAY):
    write(folder, *studies_json)
    server.ctgov.reload()
    s = settings_for(server, tmp_path)
    rs.poll(s, 1, client_for(s), today=today)
    return s


def test_linking_by_nct_id_excludes_linked_trials(server, folder, tmp_path):
    s = _poll(server, folder, tmp_path, study("NCT00000001"), study("NCT00000002"), study("NCT00000003"))
    with Store(s.db) as st:
        st.upsert_articles([
            Article(pmid="111", title="LDN trial paper", registry_ids=("NCT00000001",)),
            Article(pmid="222", title="Another", abstract=()),
        ], run_id=None)
        # an NCT id named only in the stored abstract text counts too
        st.db.execute("UPDATE articles SET abstract = 'Registered as nct00000002.' WHERE pmid = '222'")
        assert rs.links(st.db) == {"NCT00000001": ["111"], "NCT00000002": ["222"]}
        got = {x.pmid: x for x in rs.studies(st.db)}
    assert set(got) == {"NCT00000003"}
    one = got["NCT00000003"]
    assert one.source == "registry" and one.url == "https://clinicaltrials.gov/study/NCT00000003"
    assert one.assessment.design == "protocol" and one.entrez_date == "2026-01-10"


def test_studies_tolerate_a_database_without_registry_tables(tmp_path):
    with Store(tmp_path / "fresh.db") as st:
        assert rs.studies(st.db) == [] and rs.signals(st.db, TODAY) == [] and rs.upcoming(st.db) == {}


def test_publication_bias_signal(server, folder, tmp_path):
    s = _poll(server, folder, tmp_path,
              study("NCT00000013", status="COMPLETED", completion="2025-10-20", n_type="ACTUAL"),  # 13 months
              study("NCT00000011", status="COMPLETED", completion="2025-12-25", n_type="ACTUAL"),  # 11 months
              study("NCT00000099", status="COMPLETED", completion="2024-01", n_type="ACTUAL"),  # old, linked
              study("NCT00000050", status="COMPLETED", completion="2023-01-01", n_type="ACTUAL",
                    drug="Naltrexone", dose="Naltrexone 50 mg daily"))  # not LDN: not our bias to report
    with Store(s.db) as st:
        st.upsert_articles([Article(pmid="999", title="paper", registry_ids=("NCT00000099",))], run_id=None)
        sig = [x for x in rs.signals(st.db, TODAY) if x["kind"] == "publication_bias"]
    assert [x["nct_id"] for x in sig] == ["NCT00000013"]
    item = sig[0]
    assert item["months_since_completion"] == 13 and item["condition"] == "fibromyalgia"
    assert item["enrollment"] == 120 and item["status"] == "COMPLETED"
    assert item["dates"]["completion"] == "2025-10-20" and item["title"] == "LDN trial NCT00000013"


def test_partial_completion_date_counts_from_its_last_day(server, folder, tmp_path):
    # "2025-11" could mean 30 Nov 2025: not yet 12 months before 25 Nov 2026.
    s = _poll(server, folder, tmp_path, study("NCT00000001", status="COMPLETED", completion="2025-11"))
    with Store(s.db) as st:
        assert [x for x in rs.signals(st.db, TODAY) if x["kind"] == "publication_bias"] == []
        assert len([x for x in rs.signals(st.db, date(2026, 12, 1)) if x["kind"] == "publication_bias"]) == 1


def test_completed_with_results_counts_like_a_trial(server, folder, tmp_path):
    s = _poll(server, folder, tmp_path,
              study("NCT00000001", status="COMPLETED", completion="2026-03-01", n=240, n_type="ACTUAL",
                    has_results=True, results_posted="2026-09-10", updated="2026-09-10"),
              study("NCT00000002", status="WITHDRAWN", n=0, n_type="ACTUAL"))
    with Store(s.db) as st:
        got = {x.pmid: x for x in rs.studies(st.db)}
        kinds = [(x["kind"], x["nct_id"]) for x in rs.signals(st.db, TODAY)]
    assert set(got) == {"NCT00000001"}  # withdrawn: never evidence
    a = got["NCT00000001"].assessment
    assert a.design == "rct_parallel" and a.n_enrolled == 240 and a.result_direction is None
    assert "registry results: numbers posted on ClinicalTrials.gov, no conclusion drawn" in a.limitations
    assert got["NCT00000001"].entrez_date == "2026-09-10"
    assert ("trial_completed", "NCT00000001") in kinds and ("results_posted", "NCT00000001") in kinds

    from ldn_monitor.settings import load_rules
    from ldn_monitor.verdict import evaluate

    cond = evaluate(got.values(), load_rules()).get("fibromyalgia")
    assert cond.cumulative_n == 240 and cond.randomized_trials == 1
    assert cond.status == "unchanged"  # registry numbers carry no direction: no rule fires on them alone


def test_upcoming_lists_large_randomized_blinded_trials(server, folder, tmp_path):
    s = _poll(server, folder, tmp_path,
              study("NCT00000001", n=320, conditions=("Long COVID",)),
              study("NCT00000002", n=20, allocation="NA", model="SINGLE_GROUP", masking="NONE",
                    arms=("EXPERIMENTAL",)),
              study("NCT00000003", n=200, masking="NONE"))
    with Store(s.db) as st:
        up = rs.upcoming(st.db)
    assert list(up) == ["long_covid"] and [t["nct_id"] for t in up["long_covid"]] == ["NCT00000001"]
    assert up["long_covid"][0]["enrollment_text"] == "320 ESTIMATED"


# --------------------------------------------------------------------------- the assessment (pure)

def test_assessment_maps_registry_fields():
    a = assess_registry(registry_record(study("NCT00000001", model="CROSSOVER", masking="TRIPLE",
                                              arms=("EXPERIMENTAL", "ACTIVE_COMPARATOR"), status="COMPLETED",
                                              has_results=True, n=60, n_type="ACTUAL")))
    assert (a.pmid, a.design, a.randomized, a.blinding, a.control, a.n_enrolled, a.is_ldn) == (
        "NCT00000001", "rct_crossover", True, "triple", "active", 60, True)
    assert a.evidence_for("randomized") == "designInfo.allocation: RANDOMIZED"
    assert a.evidence_for("blinding") == "designInfo.maskingInfo.masking: TRIPLE"
    assert a.duration_weeks == 12 and a.condition == "fibromyalgia"


def test_estimated_enrollment_is_flagged_and_ongoing_is_protocol():
    a = assess_registry(registry_record(study("NCT00000001", masking="QUADRUPLE", arms=("EXPERIMENTAL", "NO_INTERVENTION"))))
    assert a.design == "protocol" and a.blinding == "triple" and a.control == "usual_care"
    assert a.n_enrolled == 120 and "enrollment is a target (ESTIMATED)" in a.limitations
    done = assess_registry(registry_record(study("NCT00000001", n_type="ACTUAL")))
    assert "enrollment is a target (ESTIMATED)" not in done.limitations


@pytest.mark.parametrize("dose, expected", [
    ("Naltrexone 4.5 mg at night", True),
    ("naltrexone 6mg daily", True),
    ("Very low dose naltrexone 0.25 mg/day", True),
    ("Low-dose naltrexone, titrated", True),
    ("Ultra-low-dose naltrexone 0.001 mg added to oxycodone", False),
    ("Naltrexone 50 mg daily", False),
    ("Naltrexone tablets", None),
])
def test_is_ldn_from_the_intervention(dose, expected):
    s = study("NCT00000001", dose=dose, drug="Naltrexone")
    assert assess_registry(registry_record(s)).is_ldn is expected


def test_observational_and_single_arm_conventions():
    single = study("NCT00000001", allocation="NA", model="SINGLE_GROUP", masking="NONE", arms=("EXPERIMENTAL",),
                   status="COMPLETED", has_results=True)
    a = assess_registry(registry_record(single))
    assert (a.design, a.randomized, a.blinding, a.control) == ("single_arm", False, "none", "none")
    obs = copy.deepcopy(single)
    obs["protocolSection"]["designModule"] = {"studyType": "OBSERVATIONAL", "enrollmentInfo": {"count": 500, "type": "ACTUAL"}}
    b = assess_registry(registry_record(obs))
    assert (b.design, b.randomized, b.blinding) == ("observational", False, "none")


# --------------------------------------------------------------------------- the demo snapshot

def test_demo_snapshot_exercises_every_signal(tmp_path):
    from ldn_monitor.parse import iter_records

    snap = ROOT / "data" / "snapshot"
    with ReplayServer(snap) as srv:
        mount(srv, snap / "ctgov")
        s = settings_for(srv, tmp_path)
        with Store(s.db) as st:
            st.upsert_articles(list(iter_records(str(snap / "pubmed.xml"))), run_id=None)
        rs.poll(s, 1, client_for(s), today=TODAY)
    with Store(s.db) as st:
        links = rs.links(st.db)
        got = {x.pmid: x.assessment.design for x in rs.studies(st.db)}
        sig = {(x["kind"], x["nct_id"]) for x in rs.signals(st.db, TODAY)}
        up = rs.upcoming(st.db)
    assert {"NCT00568555", "NCT04270877", "NCT02206490", "NCT04450316", "NCT02965768"} <= set(links)
    assert got == {"NCT99999901": "protocol", "NCT99999902": "protocol", "NCT99999903": "rct_parallel",
                   "NCT99999904": "protocol"}
    assert ("publication_bias", "NCT99999901") in sig and ("results_posted", "NCT99999903") in sig
    assert [t["nct_id"] for t in up["long_covid"]] == ["NCT99999902"]
