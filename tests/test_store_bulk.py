"""Store batch writes: every upsert case in one call, statement-size chunking, the search index in step."""
from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from ldn_monitor.records import AbstractSection, Article, DesignAssessment
from ldn_monitor.store import MIGRATIONS, SCHEMA_VERSION, Store

RETRACTED = ("Retracted Publication",)


def art(pmid, version=1, title="Low-dose naltrexone for fibromyalgia", **kw):
    kw.setdefault("abstract", (AbstractSection("Sixty women were randomized to LDN or placebo.", "METHODS", "METHODS"),))
    return Article(pmid=pmid, version=version, title=title, entrez_date="2024-03-01", **kw)


def assessment(pmid):
    return DesignAssessment(pmid=pmid, is_ldn=True, design="rct_parallel", n_enrolled=60, assessor_version="t1")


def fts_consistent(store) -> bool:
    """FTS5's integrity check, rank 1: the index matches the articles table row for row."""
    try:
        store.db.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError:
        return False
    return True


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "t.db") as s:
        yield s


def test_one_batch_mixing_every_case(store):
    store.upsert_articles([art("1"), art("2", 2), art("3"), art("4"), art("5")], 1)
    store.mark_deleted(["4"], 1)
    store.db.execute("UPDATE articles SET digest_id = 'd1' WHERE pmid = '3'")
    before = {r["pmid"]: r for r in store.db["articles"].rows}

    counts = store.upsert_articles([
        art("1"),  # unchanged
        art("2", 1, title="stale"),  # older than stored
        art("3", 2, title="v2", publication_types=RETRACTED),  # newer version, now retracted
        art("4"),  # deleted, seen again unchanged
        art("5", title="edited"),  # same version, new content
        art("6", publication_types=RETRACTED),  # new, already retracted
        art("7", title="first"), art("7", title="second"),  # new, duplicated: the last wins on a tie
    ], 2)

    assert counts == {"new": 2, "updated": 3, "unchanged": 1, "older": 1, "undeleted": 1, "duplicates": 1,
                      "changed": ["3", "4", "5", "6", "7"]}
    assert [(e["pmid"], e["event"], e["detail"]) for e in store.events(run_id=2)] == [
        ("3", "updated", "version 1 -> 2"), ("3", "retracted", "retraction now on record"),
        ("4", "undeleted", ""), ("4", "updated", "content changed"),
        ("5", "updated", "content changed"),
        ("6", "new", "version 1"), ("6", "retracted", "first seen already retracted"),
        ("7", "new", "version 1"),
    ]
    rows = {r["pmid"]: r for r in store.db["articles"].rows}
    assert rows["1"] == before["1"] | {"last_seen_run": 2}
    assert rows["2"] == before["2"]
    for pmid in ("3", "4", "5"):  # updated: first sighting and digest claim kept, the rest rewritten
        assert (rows[pmid]["first_seen_at"], rows[pmid]["first_seen_run"], rows[pmid]["digest_id"]) == (
            before[pmid]["first_seen_at"], 1, before[pmid]["digest_id"])
        assert (rows[pmid]["last_seen_run"], rows[pmid]["deleted"], rows[pmid]["deleted_at"]) == (2, 0, None)
        assert (rows[pmid]["content_hash"] == before[pmid]["content_hash"]) == (pmid == "4")
    assert before["4"]["deleted_at"] is not None
    assert (rows["3"]["version"], rows["3"]["title"], rows["3"]["retracted"]) == (2, "v2", 1)
    assert (rows["7"]["title"], rows["7"]["first_seen_run"], rows["7"]["digest_id"]) == ("second", 2, None)
    assert store.get_article("5") == art("5", title="edited")


def test_mark_deleted_flags_live_rows_once_in_the_order_given(store):
    store.upsert_articles([art("1"), art("2"), art("3")], 1)
    store.mark_deleted(["3"], 1)
    assert store.mark_deleted(["2", "404", "3", "1", "2"], 2) == 2
    assert [e["pmid"] for e in store.events(run_id=2, event="deleted")] == ["2", "1"]
    assert store.pmids() == set()


def _normalized(store) -> dict:
    """Every row the batch path writes, timestamps reduced to whether they are set."""
    times = {"first_seen_at", "updated_at", "deleted_at", "at", "assessed_at"}
    return {table: [{k: (v is not None) if k in times else v for k, v in row.items()}
                    for row in store.db.execute_returning_dicts(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in ("articles", "article_events", "assessments")}


@pytest.mark.parametrize("variable_limit", [40, 999])
def test_batches_split_across_statements_write_the_same(tmp_path, variable_limit):
    # 40 bound variables: one article row per INSERT, 39 PMIDs per IN (...) - every chunk boundary.
    def run(limit):
        with Store(tmp_path / f"{limit}.db") as s:
            if limit:
                s.db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
            batch = [art(str(i), title=f"trial {i}") for i in range(1, 45)]
            out = [s.upsert_articles(batch, 1),
                   s.upsert_articles(batch[::2] + [art("1", 2, title="trial 1, v2")], 2),
                   s.mark_deleted([str(i) for i in range(30, 50)], 3),
                   s.save_assessments([assessment(str(i)) for i in range(1, 45)], 3),
                   s.assessor_versions([str(i) for i in range(1, 50)]),
                   sorted(r["pmid"] for r in s.search("trial", limit=100))]
            assert fts_consistent(s)
            return out, _normalized(s)

    limited, unlimited = run(variable_limit), run(None)
    assert limited == unlimited
    assert limited[0][0]["new"] == 44 and limited[0][1]["unchanged"] == 21 and limited[0][2] == 15


def test_search_index_follows_every_write(store):
    store.upsert_articles([art("1", title="Naltrexone in fibromyalgia"),
                           art("2", title="Naltrexone in Crohn disease")], 1)
    store.upsert_articles([art("1", 2, title="Naltrexone in complex regional pain syndrome"),
                           art("2", title="Naltrexone in Crohn disease")], 2)  # 1 updated, 2 unchanged
    store.mark_deleted(["2"], 3)
    store.record_digest("d1", run_id=3, subject="s", text="t", html="h", eml=b"", recipients=[],
                        message_id="m", should_change=False, pmids=["1"])
    assert store.search("fibromyalgia") == []
    assert [r["pmid"] for r in store.search("regional pain")] == ["1"]
    assert [r["pmid"] for r in store.search("crohn")] == ["2"]  # deleted rows stay searchable
    assert fts_consistent(store)


def test_bookkeeping_updates_leave_the_index_alone(store):
    store.upsert_articles([art("1", title="Naltrexone in fibromyalgia")], 1)
    trigger = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_au'").fetchone()[0]
    assert 'UPDATE OF "title", "abstract"' in trigger
    store.db.execute("UPDATE articles SET title = 'Naltrexone in Crohn disease' WHERE pmid = '1'")
    assert [r["pmid"] for r in store.search("crohn")] == ["1"] and store.search("fibromyalgia") == []
    assert fts_consistent(store)


def test_a_version_4_database_gets_the_narrow_trigger_and_keeps_its_index(tmp_path):
    path = tmp_path / "v4.db"
    db = sqlite_utils.Database(path)
    for fn in MIGRATIONS[:4]:
        fn(db)
    db.execute("PRAGMA user_version = 4")
    db["articles"].insert({"pmid": "42", "version": 1, "title": "old row", "deleted": 0, "content_hash": "x"})
    db.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert "UPDATE OF" in s.db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_au'").fetchone()[0]
        assert s.upsert_articles([art("42", 2, title="new row")], 1)["updated"] == 1
        assert s.search("old") == [] and [r["pmid"] for r in s.search("new")] == ["42"]
        assert fts_consistent(s)
