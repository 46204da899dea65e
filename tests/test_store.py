"""Store: idempotent upserts, PMID versions, deletions, overrides, lease, watermark, migrations."""
from __future__ import annotations

import os
import sqlite3
import stat
import threading

import pytest
import sqlite_utils

from ldn_monitor.errors import InputError, RunLocked, StoreError
from ldn_monitor.records import AbstractSection, Article, Correction, DesignAssessment, Evidence
from ldn_monitor.store import MIGRATIONS, SCHEMA_VERSION, Store, coerce_override


def art(pmid="100", version=1, title="Low-dose naltrexone for fibromyalgia", **kw):
    kw.setdefault("abstract", (AbstractSection("Sixty women were randomized to LDN or placebo.", "METHODS", "METHODS"),))
    kw.setdefault("entrez_date", "2024-03-01")
    return Article(pmid=pmid, version=version, title=title, **kw)


def assessment(pmid="100", **kw):
    base = dict(is_ldn=True, design="rct_parallel", randomized=True, blinding="double", control="placebo",
                n_enrolled=60, duration_weeks=12.0, condition="fibromyalgia", result_direction="favorable",
                evidence=(Evidence("n_enrolled", "Sixty women", 0, 11),), assessor_version="t1")
    base.update(kw)
    return DesignAssessment(pmid=pmid, **base)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "t.db") as s:
        yield s


def test_same_batch_twice_gives_same_rows(store):
    batch = [art("1"), art("2"), art("3")]
    first = store.upsert_articles(batch, 1)
    snapshot = list(store.db["articles"].rows_where(select="pmid, version, title, content_hash"))
    second = store.upsert_articles(batch, 2)
    assert (first["new"], second["new"], second["unchanged"]) == (3, 0, 3)
    assert list(store.db["articles"].rows_where(select="pmid, version, title, content_hash")) == snapshot
    assert store.count("article_events", "event = 'new'") == 3


def test_round_trip_keeps_every_field(store):
    a = art("7", 2, publication_types=("Randomized Controlled Trial",), mesh_terms=("Naltrexone",),
            keywords=("LDN",), doi="10.1/x", pmc="PMC1", registry_ids=("NCT01234567",), languages=("eng",),
            corrections=(Correction("ErratumIn", "8", "J 2024"),), status="MEDLINE",
            indexing_method="Automated", authors=("Doe J",), pub_year=2024, pub_date="2024-03")
    store.upsert_articles([a], 1)
    assert store.get_article("7") == a


def test_newer_version_replaces_older_never_the_reverse(store):
    store.upsert_articles([art("5", 1, title="v1")], 1)
    c = store.upsert_articles([art("5", 2, title="v2")], 2)
    assert c["updated"] == 1 and store.get_article("5").title == "v2"
    c = store.upsert_articles([art("5", 1, title="v1")], 3)
    assert c["older"] == 1 and store.get_article("5").version == 2


def test_duplicates_in_one_batch_collapse_to_latest_version(store):
    c = store.upsert_articles([art("9", 1, title="a"), art("9", 3, title="c"), art("9", 2, title="b")], 1)
    assert c == {**c, "new": 1, "duplicates": 2}
    assert store.get_article("9").title == "c"


def test_delete_citation_flags_but_keeps_history(store):
    store.upsert_articles([art("1"), art("2")], 1)
    assert store.mark_deleted(["2", "2", "404"], 2) == 1
    assert store.pmids() == {"1"} and store.pmids(include_deleted=True) == {"1", "2"}
    assert [e["event"] for e in store.events(event="deleted")] == ["deleted"]
    assert store.mark_deleted(["2"], 3) == 0  # idempotent


def test_retraction_is_an_event(store):
    store.upsert_articles([art("3")], 1)
    store.upsert_articles([art("3", publication_types=("Retracted Publication",))], 2)
    assert store.get_article("3").is_retracted
    assert [e["event"] for e in store.events(run_id=2)] == ["updated", "retracted"]


def test_overrides_apply_and_survive_reassessment(store):
    store.upsert_articles([art("1")], 1)
    store.save_assessments([assessment("1")], 1)
    store.add_override("1", "n_enrolled", 120, "A. Reviewer", "full text says 120")
    store.save_assessments([assessment("1", n_enrolled=61, assessor_version="t2")], 2)  # a rescore
    eff = store.assessments()["1"]
    assert eff.n_enrolled == 120 and eff.overridden == ("n_enrolled",)
    assert store.machine_assessment("1").n_enrolled == 61
    hist = store.override_history("1")
    assert (hist[0]["old"], hist[0]["value"], hist[0]["by"]) == (60, 120, "A. Reviewer")


def test_second_override_records_previous_override_as_old(store):
    store.upsert_articles([art("1")], 1)
    store.save_assessments([assessment("1")], 1)
    store.add_override("1", "design", "rct_crossover", "X")
    store.add_override("1", "design", "single_arm", "Y")
    assert [h["old"] for h in store.override_history("1")] == ["rct_parallel", "rct_crossover"]
    assert store.assessments()["1"].design == "single_arm"
    assert store.clear_override("1", "design", "Y")
    assert store.assessments()["1"].design == "rct_parallel"


def test_excluded_studies_leave_the_evidence(store):
    store.upsert_articles([art("1"), art("2")], 1)
    store.save_assessments([assessment("1"), assessment("2")], 1)
    store.add_override("2", "excluded", True, "R")
    assert set(store.assessments()) == {"1"}
    assert set(store.assessments(include_excluded=True)) == {"1", "2"}


@pytest.mark.parametrize("field,raw,expected", [
    ("n_enrolled", "120", 120), ("duration_weeks", "24", 24.0), ("randomized", "false", False),
    ("design", "rct_crossover", "rct_crossover"), ("n_enrolled", "null", None),
])
def test_coerce_override(field, raw, expected):
    assert coerce_override(field, raw) == expected


@pytest.mark.parametrize("field,raw", [("n_enrolled", "many"), ("design", "rct"), ("colour", "red"),
                                       ("randomized", "perhaps")])
def test_coerce_override_rejects(field, raw):
    with pytest.raises(InputError):
        coerce_override(field, raw)


def test_override_needs_known_pmid_and_a_name(store):
    with pytest.raises(InputError, match="not in the database"):
        store.add_override("999", "n_enrolled", 3, "R")
    store.upsert_articles([art("1")], 1)
    with pytest.raises(InputError, match="--by"):
        store.add_override("1", "n_enrolled", 3, " ")


def test_watermark_only_moves_forward(store):
    assert store.set_watermark("2024/05/01", 1)
    assert not store.set_watermark("2024/01/01", 2)
    assert store.get_watermark() == "2024/05/01"


def test_lease_excludes_a_second_process(tmp_path):
    path = tmp_path / "l.db"
    with Store(path) as a, Store(path) as b:
        a.acquire_lease("scheduler", 60)
        with pytest.raises(RunLocked, match="scheduler"):
            b.acquire_lease("reviewer", 60)
        a.release_lease("scheduler")
        b.acquire_lease("reviewer", 60)


def test_expired_lease_can_be_taken(tmp_path):
    with Store(tmp_path / "l.db") as a:
        a.acquire_lease("dead-process", 0)
        a.acquire_lease("next", 60)
        assert a.lease_holder()["owner"] == "next"


def test_lease_race_has_one_winner(tmp_path):
    path = tmp_path / "race.db"
    Store(path).close()
    wins, losses = [], []

    def grab(name):
        with Store(path) as s:
            try:
                s.acquire_lease(name, 60)
                wins.append(name)
            except RunLocked:
                losses.append(name)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(wins) == 1 and len(losses) == 7


def test_digest_recorded_once_and_claims_articles(store):
    store.upsert_articles([art("1"), art("2")], 1)
    kw = dict(run_id=1, subject="s", text="t", html="h", eml=b"x", recipients=["a@b.org"], message_id="<m@x>",
              should_change=False, pmids=["1"])
    assert store.record_digest("d1", **kw)
    assert not store.record_digest("d1", **kw)
    assert store.undigested_pmids() == ["2"]
    store.mark_digest_sent("d1", "eml", "/tmp/x.eml")
    assert store.digest_status("d1") == "sent" and store.digests(status="pending") == []


def test_verdict_history_keeps_status_moves(store):
    store.save_verdicts(1, [{"condition": "fibromyalgia", "status": "unchanged"}])
    store.save_verdicts(2, [{"condition": "fibromyalgia", "status": "unchanged"}])
    store.save_verdicts(3, [{"condition": "fibromyalgia", "status": "review_benefit", "rules_fired": ["pivotal_trial"]}],
                        digest_id="d3")
    assert [h["status"] for h in store.verdict_history("fibromyalgia")] == ["unchanged", "review_benefit"]
    assert store.latest_verdicts(digested_only=True)["fibromyalgia"]["status"] == "review_benefit"


def test_full_text_search(store):
    store.upsert_articles([art("1", title="Crossover trial of LDN in fibromyalgia"),
                           art("2", title="Naltrexone for alcohol dependence")], 1)
    assert [r["pmid"] for r in store.search("crossover fibromyalgia")] == ["1"]
    assert store.search('unbalanced "quote') == []  # user text is quoted, never an FTS syntax error


def test_migrates_an_older_database_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db["articles"].insert({"pmid": "42", "version": 1, "title": "old row", "deleted": 0})
    db.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.get_article("42").title == "old row"
        assert [r["pmid"] for r in s.search("old")] == ["42"]  # FTS index built over existing rows


def test_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "new.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this ldn-monitor"):
        Store(path)


def test_locked_database_is_a_clear_error(tmp_path):
    path = tmp_path / "locked.db"
    Store(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with Store(path, timeout=0.2) as s:
            with pytest.raises(StoreError, match="locked by another process"):
                with s.atomic():
                    s.upsert_articles([art("1")], 1)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_database_is_a_clear_error(tmp_path):
    path = tmp_path / "ro.db"
    Store(path).close()
    os.chmod(path, stat.S_IRUSR)
    with pytest.raises(StoreError):
        with Store(path) as s:
            s.upsert_articles([art("1")], 1)


def test_read_only_via_uri_is_a_clear_error(tmp_path):
    # Works as root too: SQLite's own read-only mode.
    path = tmp_path / "ro2.db"
    Store(path).close()
    s = Store(path, migrate=False)
    s.db.conn.close()
    s.db = sqlite_utils.Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None))
    with pytest.raises(StoreError, match="read-only"):
        with s.atomic():
            s.upsert_articles([art("1")], 1)


def test_a_failed_batch_writes_nothing(store):
    store.upsert_articles([art("1")], 1)
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.upsert_articles([art("2"), art("3")], 2)
            raise RuntimeError("killed mid-batch")
    assert store.pmids() == {"1"}


def test_disk_full_is_a_clear_error_and_the_batch_rolls_back(tmp_path):
    # SQLite's own ceiling stands in for a full disk: the same SQLITE_FULL error, no root needed.
    with Store(tmp_path / "full.db") as s:
        s.upsert_articles([art("1")], 1)
        pages = s.db.execute("PRAGMA page_count").fetchone()[0]
        s.db.execute(f"PRAGMA max_page_count = {pages + 2}")
        big = [art(str(i), abstract=(AbstractSection("x" * 20_000),)) for i in range(2, 40)]
        with pytest.raises(StoreError, match="disk full"):
            with s.atomic():
                s.upsert_articles(big, 2)
        assert s.pmids() == {"1"}
