"""The whole run without Prefect, against real local parts: replay server, SQLite file, outbox.

The Prefect flow runs these same stages (tests/test_flow.py checks that once under the harness).
"""
from __future__ import annotations

import json
import threading

import pytest

from ldn_monitor.errors import RunLocked, ServerError
from ldn_monitor.pipeline import rescore, run_monitor
from ldn_monitor.replay import ReplayServer
from ldn_monitor.settings import load_rules
from ldn_monitor.snapshot import record_to_snapshot_dir
from ldn_monitor.store import Store

from pipeline_helpers import SNAPSHOT, outbox_messages, settings_for, small_open_label, trial

RULES = load_rules()


@pytest.fixture
def demo_server():
    with ReplayServer(SNAPSHOT) as server:
        yield server


def test_backfill_of_the_snapshot_then_nothing_twice(tmp_path, demo_server):
    settings = settings_for(tmp_path, demo_server)
    manifest = json.loads((SNAPSHOT / "manifest.json").read_text())
    first = run_monitor(settings, RULES, trigger="test")
    assert first["status"] == "succeeded" and first["kind"] == "backfill"
    assert first["new"] == len(manifest) and first["requests"] == 2  # 1 ESearch + 1 EFetch batch
    with Store(settings.db) as store:
        assert store.pmids() == {row["pmid"] for row in manifest}
        assert store.count("assessments") == len(manifest)
        assert store.get_watermark() == first["window"][1]
    mails = outbox_messages(settings.outbox)
    assert len(mails) == 1
    assert mails[0]["Subject"].startswith("LDN evidence:")

    second = run_monitor(settings, RULES, trigger="test")
    assert second["kind"] == "poll" and second["new"] == 0 and second["unchanged"] >= 0
    assert second["digest"] is None and second["sent"] == []
    assert len(outbox_messages(settings.outbox)) == 1
    with Store(settings.db) as store:
        assert store.count("articles") == len(manifest)


def _scenario(tmp_path, records):
    snap = tmp_path / "snap"
    record_to_snapshot_dir(records, snap)
    return snap


BASELINE = [small_open_label("31000010"), trial("31000011", n=40, weeks=8, entrez_date="2015-03-01")]


@pytest.mark.parametrize("new_trial,expected", [
    (trial("31000020"), {"fibromyalgia": "review_benefit"}),
    (trial("31000021", result="null"), {"fibromyalgia": "review_no_benefit"}),
    (trial("31000022", condition_words="alcohol dependence", dose="naltrexone 50 mg daily", n=600), {}),
])
def test_verdict_scenarios(tmp_path, new_trial, expected):
    with ReplayServer(_scenario(tmp_path, BASELINE + [new_trial])) as server:
        settings = settings_for(tmp_path, server)
        counts = run_monitor(settings, RULES, trigger="test")
    report = counts["digest_info"]["report"]
    statuses = {c["condition"]: c["status"] for c in report["conditions"]}
    moved = {k: v for k, v in statuses.items() if v != "unchanged"}
    assert moved == expected, statuses
    assert "crohns_disease" in statuses and statuses["crohns_disease"] == "unchanged"
    subject = outbox_messages(settings.outbox)[0]["Subject"]
    if expected:
        assert subject.startswith("LDN evidence: review the verdict for fibromyalgia")
    else:
        assert subject.startswith("LDN evidence: verdict unchanged")


def test_failed_run_keeps_the_watermark_and_the_next_run_gets_everything(tmp_path):
    snap = _scenario(tmp_path, BASELINE + [trial("31000030")])
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server)
        server.inject("500", times=10)
        with pytest.raises(ServerError):
            run_monitor(settings, RULES, trigger="test")
        with Store(settings.db) as store:
            assert store.get_watermark() is None
            assert store.runs(1)[0]["status"] == "failed"
            assert store.lease_holder() is None  # a failed run releases the lease
        server.clear_faults()
        ok = run_monitor(settings, RULES, trigger="test")
    assert ok["kind"] == "backfill" and ok["new"] == 3


def test_manual_window_never_moves_the_watermark_back(tmp_path, demo_server):
    settings = settings_for(tmp_path, demo_server)
    run_monitor(settings, RULES, trigger="test")
    with Store(settings.db) as store:
        wm = store.get_watermark()
    again = run_monitor(settings, RULES, since="2020-01-01", until="2020-12-31", trigger="cli")
    assert again["kind"] == "window" and again["window"] == ["2020/01/01", "2020/12/31"]
    with Store(settings.db) as store:
        assert store.get_watermark() == wm


def test_two_runs_at_once_send_one_digest(tmp_path):
    snap = _scenario(tmp_path, BASELINE + [trial("31000040")])
    with ReplayServer(snap, slow_seconds=0.8) as server:
        settings = settings_for(tmp_path, server, timeout=5.0)
        server.inject("slow", times=1, endpoint="esearch")  # hold the first run inside its lease
        results, errors = [], []

        def go():
            try:
                results.append(run_monitor(settings, RULES, trigger="test"))
            except RunLocked as exc:
                errors.append(exc)

        a = threading.Thread(target=go)
        a.start()
        import time

        time.sleep(0.3)
        go()
        a.join()
    assert len(results) == 1 and len(errors) == 1
    assert "in progress" in str(errors[0])
    assert len(outbox_messages(settings.outbox)) == 1


class DiesAfterFirstBatch:
    """A PubMed client that delivers one batch, then the process 'dies'."""

    def __init__(self, inner):
        self.inner, self.requests_made = inner, 0

    def fetch_window(self, *a, **kw):
        for i, result in enumerate(self.inner.fetch_window(*a, **kw)):
            if i == 1:
                raise KeyboardInterrupt("killed")
            yield result


def test_killed_mid_run_next_run_completes_once(tmp_path):
    from ldn_monitor.pubmed import PubMedClient

    records = BASELINE + [trial(str(31000050 + i), n=20 + i, weeks=4) for i in range(5)]
    with ReplayServer(_scenario(tmp_path, records)) as server:
        settings = settings_for(tmp_path, server, batch_size=3)
        with pytest.raises(KeyboardInterrupt):
            run_monitor(settings, RULES, trigger="test", client=DiesAfterFirstBatch(PubMedClient(settings)))
        with Store(settings.db) as store:
            assert store.count("articles") == 3 and store.get_watermark() is None
            assert store.count("digests") == 0
        done = run_monitor(settings, RULES, trigger="test")
    with Store(settings.db) as store:
        assert store.count("articles") == len(records)
        assert done["new"] == len(records) - 3 and done["unchanged"] == 3
        digests = store.digests()
        assert len(digests) == 1
        assert sorted(store.get_digest(digests[0]["id"])["pmids"]) == sorted(r["pmid"] for r in records)
    assert len(outbox_messages(settings.outbox)) == 1


def test_overrides_survive_rescore_and_full_requery(tmp_path):
    with ReplayServer(_scenario(tmp_path, BASELINE + [trial("31000060", n=80)])) as server:
        settings = settings_for(tmp_path, server)
        run_monitor(settings, RULES, trigger="test")
        with Store(settings.db) as store:
            store.add_override("31000060", "n_enrolled", 180, "A. Reviewer", "full text: 180 randomized")
        rescore(settings)
        full = run_monitor(settings, RULES, full=True, trigger="test")
        assert full["kind"] == "full"
    with Store(settings.db) as store:
        eff = store.assessments()["31000060"]
        assert eff.n_enrolled == 180 and "n_enrolled" in eff.overridden
        assert store.machine_assessment("31000060").n_enrolled == 80
    # The corrected n makes it a pivotal trial: the verdict uses the reviewer's value.
    from ldn_monitor.pipeline import compute

    report, _ = compute(settings, RULES)
    assert report.get("fibromyalgia").status == "review_benefit"


def test_full_requery_catches_deletions_revisions_and_late_records(tmp_path):
    snap = _scenario(tmp_path, BASELINE + [trial("31000070"), trial("31000071", n=50)])
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server)
        run_monitor(settings, RULES, trigger="test")
        # PubMed changes behind our back: a record revised, one deleted, one entered late with an
        # old Entrez date that an overlapping poll window would never see.
        late = trial("31000072", entrez_date="2010-01-01")
        revised = dict(trial("31000071", n=150), version=2)
        record_to_snapshot_dir([late, revised], snap, filename="pubmed-2.xml")
        (snap / "deleted.txt").write_text("31000070\n")
        server.reload()
        plain = run_monitor(settings, RULES, trigger="test")
        assert plain["new"] == 0  # the overlap window cannot see any of it
        full = run_monitor(settings, RULES, full=True, trigger="test")
    assert full["new"] == 1 and full["updated"] >= 1 and full["deleted"] == 1
    with Store(settings.db) as store:
        assert store.get_article("31000071").version == 2
        assert "31000070" not in store.pmids() and "31000072" in store.pmids()


def test_empty_run_sends_nothing_unless_asked(tmp_path, demo_server):
    settings = settings_for(tmp_path, demo_server)
    run_monitor(settings, RULES, trigger="test")
    run_monitor(settings, RULES, trigger="test")
    assert len(outbox_messages(settings.outbox)) == 1
    run_monitor(settings.replace(digest_when_empty=True), RULES, trigger="test")
    mails = outbox_messages(settings.outbox)
    assert len(mails) == 2 and "(0 new studies)" in mails[-1]["Subject"] or "review the verdict" in mails[-1]["Subject"]


def test_registry_outage_does_not_block_pubmed(tmp_path):
    from ldn_monitor.ctgov_replay import mount

    with ReplayServer(SNAPSHOT) as server:
        mount(server, SNAPSHOT / "ctgov")
        settings = settings_for(tmp_path, server, registry=True,
                                ctgov_url=server.url.split("/entrez/")[0] + "/api/v2/")
        server.inject("503", times=50, endpoint="ctgov")
        counts = run_monitor(settings, RULES, trigger="test")
        assert counts["status"] == "succeeded" and counts["new"] > 0
        assert "error" in counts["registry"]
        (mail,) = outbox_messages(settings.outbox)
        assert "ClinicalTrials.gov could not be reached" in mail.get_body(("plain",)).get_content()
        with Store(settings.db) as store:
            assert store.get_watermark("ctgov") is None and store.get_watermark() is not None
        server.clear_faults()
        again = run_monitor(settings, RULES, trigger="test")
        quiet = run_monitor(settings, RULES, trigger="test")  # same second, often: ids, not clocks
    assert quiet["digest"] is None and quiet["sent"] == []
    assert again["registry"]["new"] == 10
    # registry news alone (trials completed, results posted) is worth a digest
    assert again["digest"] is not None
    text = outbox_messages(settings.outbox)[-1].get_body(("plain",)).get_content()
    assert "REGISTRY SIGNALS" in text and "results posted" in text


def test_batch_with_two_versions_assesses_the_newer(tmp_path):
    from ldn_monitor.pipeline import store_batch
    from ldn_monitor.records import AbstractSection, Article

    v1 = Article(pmid="7", version=1, title="Low-dose naltrexone pilot", abstract=(AbstractSection("Ten patients."),))
    v2 = Article(pmid="7", version=2, title="Low-dose naltrexone pilot (corrected)",
                 abstract=(AbstractSection("Twelve patients took low-dose naltrexone 4.5 mg."),))
    with Store(tmp_path / "v.db") as store:
        counts = store_batch(store, (v2, v1), (), 1)
        assert counts["assessed"] == 1 and store.get_article("7").version == 2
        assert store.machine_assessment("7").n_enrolled == 12
