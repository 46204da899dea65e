"""Nothing lost, nothing sent twice, nothing let in — faults injected for real, end to end.

Client-level faults (each HTTP fault, retries, pacing) are in test_pubmed.py; SMTP faults in
test_mailer.py; SQLite faults in test_store.py. Here: whole runs under faults.
"""
from __future__ import annotations

import os
import random

import pytest

from ldn_monitor.errors import LdnError
from ldn_monitor.pipeline import run_monitor, send_pending
from ldn_monitor.replay import TRANSIENT_FAULTS, ReplayServer
from ldn_monitor.settings import load_rules
from ldn_monitor.snapshot import record_to_snapshot_dir
from ldn_monitor.store import Store

from conftest import free_port
from pipeline_helpers import outbox_messages, settings_for, small_open_label, trial

pytestmark = pytest.mark.faults
RULES = load_rules()


def _records(n=12):
    return [trial(str(32000000 + i), n=20 + i, weeks=4 + i % 10, entrez_date=f"2025-{1 + i % 12:02d}-0{1 + i % 9}")
            for i in range(n)]


def test_zero_records_lost_across_faulty_runs(tmp_path):
    records = _records(15)
    snap = tmp_path / "snap"
    record_to_snapshot_dir(records, snap)
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server, batch_size=4, max_retries=1)
        outcomes = []
        for seed in range(6):
            server.random_faults(0.5, seed=seed, kinds=TRANSIENT_FAULTS + ("expire_webenv", "count_mismatch"))
            try:
                outcomes.append(run_monitor(settings, RULES, trigger="test")["status"])
            except LdnError:
                outcomes.append("failed")
            with Store(settings.db) as store:
                if outcomes[-1] == "failed":
                    # a failed run never advances the watermark past what it did not store
                    assert store.get_watermark() is None or outcomes.count("succeeded")
        server.clear_faults()
        final = run_monitor(settings, RULES, trigger="test")
        injected = server.faults_injected
    assert "failed" in outcomes and injected > 5
    assert final["status"] == "succeeded"
    with Store(settings.db) as store:
        assert store.pmids() == {r["pmid"] for r in records}
        assert store.count("assessments") == len(records)
        sent = store.digests(status="sent")
        claimed = sorted(p for d in sent for p in store.get_digest(d["id"])["pmids"])
    assert claimed == sorted(r["pmid"] for r in records)  # every study reported, exactly once
    assert len(outbox_messages(settings.outbox)) == len(sent)


def test_smtp_down_then_up_sends_exactly_once(tmp_path):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    snap = tmp_path / "snap"
    record_to_snapshot_dir([small_open_label("33000001")], snap)
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                                mail_to=("team@example.org",), smtp_timeout=2.0)
        down = run_monitor(settings, RULES, trigger="test")  # nothing listens on the port yet
        assert down["status"] == "mail_pending"
        with Store(settings.db) as store:
            (pending,) = store.digests(status="pending")
            assert "LDN_SMTP_HOST" in pending["last_error"]
            assert store.get_watermark() is not None  # the poll itself succeeded: nothing to re-fetch
        ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
        ctl.start()
        try:
            up = run_monitor(settings, RULES, trigger="test")
            again = run_monitor(settings, RULES, trigger="test")
            assert send_pending(settings) == []
        finally:
            ctl.stop()
    assert up["status"] == "succeeded" and up["sent"] == [pending["id"]]
    assert again["sent"] == [] and len(received) == 1
    assert b"33000001" in received[0]


def test_send_task_retry_does_not_send_twice(tmp_path):
    # Prefect may retry the send task after a send that succeeded but whose task then failed:
    # the outbox row is checked before every send.
    snap = tmp_path / "snap"
    record_to_snapshot_dir([small_open_label("33000002")], snap)
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server)
        run_monitor(settings, RULES, trigger="test")
    assert send_pending(settings) == [] and send_pending(settings) == []
    assert len(outbox_messages(settings.outbox)) == 1


def _odd_records():
    base = small_open_label("34000001")
    no_abstract = dict(base, record_id="odd1", pmid="34000002", abstract="", title="Low-dose naltrexone: a letter")
    not_available = dict(base, record_id="odd2", pmid="34000003", title="[Not Available].")
    huge = dict(base, record_id="odd3", pmid="34000004", abstract="Low-dose naltrexone. " + "word " * 10_000)
    cjk = dict(base, record_id="odd4", pmid="34000005", title="低剂量纳曲酮治疗纤维肌痛的随机对照试验",
               abstract="低剂量纳曲酮 4.5 mg。Низкие дозы налтрексона. Ελληνικά.")
    ctrl = dict(base, record_id="odd5", pmid="34000006", title="Control\x07 characters\x1b[31m in a title")
    return [base, no_abstract, not_available, huge, cjk, ctrl]


def test_odd_records_are_stored_and_never_crash_the_run(tmp_path):
    snap = tmp_path / "snap"
    record_to_snapshot_dir(_odd_records(), snap)
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server)
        counts = run_monitor(settings, RULES, trigger="test")
    assert counts["status"] == "succeeded" and counts["new"] == 6
    with Store(settings.db) as store:
        assert store.count("assessments") == 6
        assert store.get_article("34000003").title == "[Not Available]."
        assert store.get_article("34000005").title.startswith("低剂量")
        assert "\x07" not in store.get_article("34000006").title
        assert len(store.get_article("34000004").abstract_text) > 50_000
        assert [e["event"] for e in store.events(run_id=counts["run_id"])].count("new") == 6  # visible in the run log


def test_duplicates_versions_deletions_and_retractions_in_a_run(tmp_path):
    snap = tmp_path / "snap"
    a, b = small_open_label("35000001"), trial("35000002", n=30, weeks=6)
    record_to_snapshot_dir([a, b], snap)
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server)
        run_monitor(settings, RULES, trigger="test")
        retracted = dict(b, version=2, publication_types=["Randomized Controlled Trial", "Retracted Publication"])
        record_to_snapshot_dir([retracted], snap, filename="pubmed-2.xml")
        (snap / "deleted.txt").write_text("35000001\n")
        server.reload()
        counts = run_monitor(settings, RULES, full=True, trigger="test")
    with Store(settings.db) as store:
        events = [(e["pmid"], e["event"]) for e in store.events(run_id=counts["run_id"])]
        assert ("35000002", "updated") in events and ("35000002", "retracted") in events
        assert ("35000001", "deleted") in events
        art = store.get_article("35000002")
        assert art.version == 2 and art.is_retracted


@pytest.mark.soak
def test_soak_200_runs_with_random_faults(tmp_path):
    """200 consecutive runs, random faults, new records arriving: the end state equals the snapshot.

    About 8 s here, so it runs in the default suite; LDN_TEST_SOAK_RUNS raises the count.
    """
    runs = int(os.environ.get("LDN_TEST_SOAK_RUNS", "200"))
    rng = random.Random(2026)
    snap = tmp_path / "snap"
    all_records = _records(60)
    record_to_snapshot_dir(all_records[:10], snap)
    present = 10
    failed = 0
    with ReplayServer(snap) as server:
        settings = settings_for(tmp_path, server, batch_size=7, max_retries=2)
        for i in range(runs):
            if present < len(all_records) and rng.random() < 0.3:
                record_to_snapshot_dir(all_records[:present + 1], snap)
                present += 1
                server.reload()
            server.random_faults(0.15, seed=i)
            try:
                run_monitor(settings, RULES, full=(i % 25 == 24), trigger="soak")
            except LdnError:
                failed += 1
        server.clear_faults()
        run_monitor(settings, RULES, full=True, trigger="soak")
        injected = server.faults_injected
    with Store(settings.db) as store:
        assert store.pmids() == {r["pmid"] for r in all_records[:present]}
        sent = store.digests(status="sent", limit=10_000)
        claimed = [p for d in sent for p in store.get_digest(d["id"])["pmids"]]
        assert sorted(claimed) == sorted(r["pmid"] for r in all_records[:present])
        assert store.digests(status="pending") == []
    assert len(outbox_messages(settings.outbox)) == len(sent)
    print(f"soak: {runs} runs, {failed} failed, {injected} faults injected, {present} records expected, "
          f"{len(claimed)} reported once each, {len(sent)} digests sent once each")
