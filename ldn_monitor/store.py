"""SQLite store (sqlite-utils): schema, migrations, idempotent upserts, run log, lease, outbox.

Rows become records (``records.py``) at this module's edge; nothing above it sees a row.

Write discipline: each EFetch batch (articles + their assessments) commits in one
``db.atomic()`` block, and a run's closing writes (verdicts, digest row, watermark, run status)
commit together in another. A process killed between the two leaves only idempotent batch
writes behind; the watermark has not moved, so the next run re-polls the same window and
upserts find nothing new to duplicate.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import sqlite_utils

from .errors import InputError, RunLocked, StoreError
from .records import (
    LABEL_FIELDS,
    AbstractSection,
    Article,
    Correction,
    DesignAssessment,
    Evidence,
)

SCHEMA_VERSION = 5

# Fields a reviewer may override, with the type their value must have.
OVERRIDABLE = {
    "is_ldn": "bool", "design": "str", "randomized": "bool", "blinding": "str", "control": "str",
    "n_enrolled": "int", "n_analyzed": "int", "n_studies": "int", "duration_weeks": "float",
    "condition": "str", "result_direction": "str", "serious_harm": "bool", "excluded": "bool",
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# One encoder for every call: json.dumps with options builds a new one each time, which costs
# more than encoding the short lists most columns hold. Same output, so content hashes match.
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _j(value) -> str:
    return _JSON.encode(value)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# --------------------------------------------------------------------------- migrations

def _m1_core(db: sqlite_utils.Database) -> None:
    db["articles"].create({
        "pmid": str, "version": int, "title": str, "abstract": str, "abstract_json": str,
        "journal": str, "journal_iso": str, "pub_year": int, "pub_date": str, "entrez_date": str,
        "authors_json": str, "publication_types_json": str, "mesh_json": str, "keywords_json": str,
        "doi": str, "pmc": str, "registry_ids_json": str, "languages_json": str,
        "corrections_json": str, "status": str, "indexing_method": str, "is_book": int,
        "content_hash": str, "deleted": int, "deleted_at": str, "retracted": int,
        "first_seen_at": str, "first_seen_run": int, "updated_at": str, "last_seen_run": int,
        "digest_id": str,
    }, pk="pmid", not_null={"pmid"}, defaults={"deleted": 0, "retracted": 0, "is_book": 0, "version": 1},
        if_not_exists=True)
    db["assessments"].create({
        "pmid": str, "assessor_version": str, "is_ldn": int, "design": str, "randomized": int,
        "blinding": str, "control": str, "n_enrolled": int, "n_analyzed": int, "n_studies": int,
        "duration_weeks": float, "condition": str, "result_direction": str, "serious_harm": int, "pooled_rcts": int,
        "evidence_json": str, "quality_score": int, "quality_items_json": str,
        "limitations_json": str, "assessed_at": str, "run_id": int,
    }, pk="pmid", if_not_exists=True)
    db["runs"].create({
        "id": int, "kind": str, "trigger": str, "started_at": str, "finished_at": str,
        "status": str, "mindate": str, "maxdate": str, "counts_json": str, "error": str,
        "duration_s": float, "flow_run_id": str,
    }, pk="id", if_not_exists=True)
    db["watermarks"].create({"name": str, "value": str, "updated_at": str, "run_id": int},
                            pk="name", if_not_exists=True)
    db["digests"].create({
        "id": str, "run_id": int, "created_at": str, "subject": str, "text": str, "html": str,
        "eml": bytes, "recipients_json": str, "message_id": str, "status": str,
        "attempts": int, "last_error": str, "sent_at": str, "method": str, "detail": str,
        "should_change": int, "pmids_json": str,
    }, pk="id", defaults={"attempts": 0, "status": "pending"}, if_not_exists=True)


def _m2_history(db: sqlite_utils.Database) -> None:
    db["article_events"].create({
        "id": int, "pmid": str, "run_id": int, "event": str, "detail": str, "at": str,
    }, pk="id", if_not_exists=True)
    db["verdicts"].create({
        "id": int, "run_id": int, "condition": str, "status": str, "rules_json": str,
        "studies_json": str, "cumulative_n": int, "largest_trial_n": int, "detail_json": str,
        "at": str, "digest_id": str,
    }, pk="id", if_not_exists=True)
    db["lease"].create({"name": str, "owner": str, "acquired_at": str, "expires_at": float,
                        "run_id": int}, pk="name", if_not_exists=True)
    db["processed_files"].create({"sha256": str, "path": str, "records": int, "matched": int,
                                  "deleted": int, "at": str, "run_id": int},
                                 pk="sha256", if_not_exists=True)
    db.executescript("""
        CREATE INDEX IF NOT EXISTS idx_articles_entrez ON articles(entrez_date);
        CREATE INDEX IF NOT EXISTS idx_verdicts_condition ON verdicts(condition, id);
        CREATE INDEX IF NOT EXISTS idx_events_pmid ON article_events(pmid);
    """)


def _m3_reviewers(db: sqlite_utils.Database) -> None:
    db["overrides"].create({
        "id": int, "pmid": str, "field": str, "old_json": str, "value_json": str, "by": str,
        "note": str, "at": str, "active": int,
    }, pk="id", defaults={"active": 1}, if_not_exists=True)
    db.executescript("CREATE INDEX IF NOT EXISTS idx_overrides_pmid ON overrides(pmid, field, id);")
    if "articles_fts" not in db.table_names():
        db["articles"].enable_fts(["title", "abstract"], create_triggers=True, tokenize="porter")


def _m4_registry(db: sqlite_utils.Database) -> None:
    from . import registry_store

    registry_store.create_tables(db)
    if "registry_event_id" not in db["digests"].columns_dict:
        db["digests"].add_column("registry_event_id", int)  # the last registry event it reported


def _m5_fts_on_text_change(db: sqlite_utils.Database) -> None:
    # sqlite-utils' update trigger re-indexes a row on any UPDATE, so bookkeeping writes
    # (last_seen_run on every re-run, deleted, digest_id) re-tokenized unchanged text: most of
    # the cost of a re-run. Only title and abstract feed the index.
    db.execute('DROP TRIGGER IF EXISTS "articles_au"')
    db.execute("""
        CREATE TRIGGER "articles_au" AFTER UPDATE OF "title", "abstract" ON "articles" BEGIN
          INSERT INTO "articles_fts" ("articles_fts", rowid, "title", "abstract")
            VALUES ('delete', old.rowid, old."title", old."abstract");
          INSERT INTO "articles_fts" (rowid, "title", "abstract") VALUES (new.rowid, new."title", new."abstract");
        END""")


MIGRATIONS = (_m1_core, _m2_history, _m3_reviewers, _m4_registry, _m5_fts_on_text_change)


# --------------------------------------------------------------------------- row <-> record

def article_to_row(a: Article) -> dict:
    row = {
        "pmid": a.pmid, "version": a.version, "title": a.title, "abstract": a.abstract_text,
        "abstract_json": _j([[s.label, s.category, s.text] for s in a.abstract]),
        "journal": a.journal, "journal_iso": a.journal_iso, "pub_year": a.pub_year,
        "pub_date": a.pub_date, "entrez_date": a.entrez_date, "authors_json": _j(list(a.authors)),
        "publication_types_json": _j(list(a.publication_types)), "mesh_json": _j(list(a.mesh_terms)),
        "keywords_json": _j(list(a.keywords)), "doi": a.doi, "pmc": a.pmc,
        "registry_ids_json": _j(list(a.registry_ids)), "languages_json": _j(list(a.languages)),
        "corrections_json": _j([[c.ref_type, c.pmid, c.source] for c in a.corrections]),
        "status": a.status, "indexing_method": a.indexing_method, "is_book": int(a.is_book),
        "retracted": int(a.is_retracted),
    }
    row["content_hash"] = hashlib.sha256(_j(row).encode()).hexdigest()[:16]
    return row


def row_to_article(r: dict) -> Article:
    return Article(
        pmid=r["pmid"], version=r["version"] or 1, title=r["title"] or "",
        abstract=tuple(AbstractSection(text=t, label=l, category=c)
                       for l, c, t in json.loads(r["abstract_json"] or "[]")),
        journal=r["journal"] or "", journal_iso=r["journal_iso"] or "", pub_year=r["pub_year"],
        pub_date=r["pub_date"], entrez_date=r["entrez_date"],
        authors=tuple(json.loads(r["authors_json"] or "[]")),
        publication_types=tuple(json.loads(r["publication_types_json"] or "[]")),
        mesh_terms=tuple(json.loads(r["mesh_json"] or "[]")),
        keywords=tuple(json.loads(r["keywords_json"] or "[]")), doi=r["doi"], pmc=r["pmc"],
        registry_ids=tuple(json.loads(r["registry_ids_json"] or "[]")),
        languages=tuple(json.loads(r["languages_json"] or "[]")),
        corrections=tuple(Correction(*c) for c in json.loads(r["corrections_json"] or "[]")),
        status=r["status"], indexing_method=r["indexing_method"], is_book=bool(r["is_book"]),
    )


def _bool_or_none(v):
    return None if v is None else bool(v)


def assessment_to_row(a: DesignAssessment) -> dict:
    return {
        "pmid": a.pmid, "assessor_version": a.assessor_version,
        "is_ldn": None if a.is_ldn is None else int(a.is_ldn), "design": a.design,
        "randomized": None if a.randomized is None else int(a.randomized),
        "blinding": a.blinding, "control": a.control, "n_enrolled": a.n_enrolled,
        "n_analyzed": a.n_analyzed, "n_studies": a.n_studies, "duration_weeks": a.duration_weeks,
        "condition": a.condition, "result_direction": a.result_direction,
        "serious_harm": int(a.serious_harm),
        "pooled_rcts": None if a.pooled_rcts is None else int(a.pooled_rcts),
        "evidence_json": _j([[e.field, e.text, e.start, e.end] for e in a.evidence]),
        "quality_score": a.quality_score, "quality_items_json": _j(list(a.quality_items)),
        "limitations_json": _j(list(a.limitations)),
    }


def row_to_assessment(r: dict) -> DesignAssessment:
    return DesignAssessment(
        pmid=r["pmid"], is_ldn=_bool_or_none(r["is_ldn"]), design=r["design"] or "other",
        randomized=_bool_or_none(r["randomized"]), blinding=r["blinding"], control=r["control"],
        n_enrolled=r["n_enrolled"], n_analyzed=r["n_analyzed"], n_studies=r["n_studies"],
        duration_weeks=r["duration_weeks"], condition=r["condition"],
        result_direction=r["result_direction"], serious_harm=bool(r["serious_harm"]),
        pooled_rcts=_bool_or_none(r.get("pooled_rcts")),
        evidence=tuple(Evidence(*e) for e in json.loads(r["evidence_json"] or "[]")),
        quality_score=r["quality_score"] or 0,
        quality_items=tuple(json.loads(r["quality_items_json"] or "[]")),
        limitations=tuple(json.loads(r["limitations_json"] or "[]")),
        assessor_version=r["assessor_version"] or "",
    )


def coerce_override(field: str, raw: str):
    """Parse a reviewer's ``--set field=value`` into the field's type (None via 'null')."""
    if field not in OVERRIDABLE:
        raise InputError(f"cannot override {field!r}; choose one of: {', '.join(OVERRIDABLE)}")
    if raw.strip().lower() in ("null", "none", ""):
        return None
    kind = OVERRIDABLE[field]
    try:
        if kind == "bool":
            low = raw.strip().lower()
            if low not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError
            return low in ("true", "yes", "1")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise InputError(f"{field}={raw!r}: expected a {kind}") from None
    from .records import BLINDINGS, CONTROLS, DESIGNS, DIRECTIONS
    vocab = {"design": DESIGNS, "blinding": BLINDINGS, "control": CONTROLS,
             "result_direction": DIRECTIONS}.get(field)
    if vocab and raw not in vocab:
        raise InputError(f"{field}={raw!r}: choose one of {', '.join(vocab)}")
    return raw


# --------------------------------------------------------------------------- the store

class Store:
    """The one door to the database. Open with ``Store(path)``; use as a context manager."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0, migrate: bool = True):
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # Our own connection: a busy timeout, so a second process waits for a lock
            # instead of failing at once; isolation_level=None lets sqlite-utils drive BEGIN.
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            if str(path) != ":memory:":
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if migrate:
                self.migrate()
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    # -- plumbing
    def _translate(self, exc: Exception) -> StoreError:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            return StoreError(f"database {self.path} is locked by another process; wait for it to finish and retry")
        if "readonly" in msg or "read-only" in msg:
            return StoreError(f"database {self.path} is read-only; check file permissions or set LDN_DB to a writable path")
        if "disk is full" in msg or "full" in msg:
            return StoreError(f"disk full while writing {self.path}; free space and re-run (nothing was half-written)")
        if "unable to open" in msg:
            return StoreError(f"cannot open database {self.path}; check LDN_DB and that its folder exists and is writable")
        if "not a database" in msg:
            return StoreError(f"{self.path} is not an SQLite database; point LDN_DB elsewhere")
        return StoreError(f"database error on {self.path}: {msg}")

    @contextlib.contextmanager
    def atomic(self):
        """One transaction (savepoint when nested); SQLite errors become StoreError.

        The outer transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, so
        a second writer waits out the busy timeout instead of failing when a deferred read
        transaction tries to upgrade (SQLite cannot wait there and says "database is locked").
        """
        try:
            if self.db.conn.in_transaction:
                with self.db.atomic():  # a savepoint inside the caller's transaction
                    yield self
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            try:
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        """Bring the schema to SCHEMA_VERSION; returns the number of steps applied."""
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {current}, newer than this ldn-monitor "
                f"({SCHEMA_VERSION}); upgrade ldn-monitor or use another LDN_DB")
        applied = 0
        for step, fn in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.atomic():
                fn(self.db)
                self.db.execute(f"PRAGMA user_version = {step}")
            applied += 1
        return applied

    # -- bulk writes
    def _per_statement(self, params_per_row: int) -> int:
        """How many rows (or ids) one statement takes, leaving a variable spare for a shared one.

        SQLite caps bound variables (999 in builds before 3.32, 32766 since); at most 500 rows
        keeps the SQL text far below its 1 MB statement limit.
        """
        limit = self.db.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return max(1, min(500, (limit - 1) // params_per_row))

    def _write_rows(self, table: str, rows: list[dict], keep: Optional[tuple[str, ...]] = None) -> None:
        """INSERT ``rows`` (dicts with the same keys), many to a statement.

        ``keep`` makes it an upsert on pmid: a row already stored takes every column from the new
        one except those named.
        Many rows to a statement, not one: a statement that fires the articles_fts triggers runs
        in a statement savepoint, where FTS5 flushes its pending terms into a new index segment;
        row by row, every article became a segment to merge, and indexing cost three times as much.
        """
        if not rows:
            return
        columns = list(rows[0])
        one = "(" + ", ".join("?" * len(columns)) + ")"
        head = f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) VALUES "
        tail = ""
        if keep is not None:
            tail = " ON CONFLICT(pmid) DO UPDATE SET " + ", ".join(
                f"[{c}] = excluded.[{c}]" for c in columns if c not in keep)
        for part in _chunks(rows, self._per_statement(len(columns))):
            self.db.execute(head + ", ".join([one] * len(part)) + tail, [r[c] for r in part for c in columns])

    def _pmids_in(self, sql: str, pmids: list[str], *first) -> list[tuple]:
        """Run ``sql`` (ending ``pmid IN ({})``) over ``pmids`` a chunk at a time, ``first`` bound
        before them; returns the rows of every chunk."""
        rows: list[tuple] = []
        for part in _chunks(pmids, self._per_statement(1)):
            rows += self.db.execute(sql.format(",".join("?" * len(part))), [*first, *part]).fetchall()
        return rows

    def _write_events(self, events: list[tuple[str, str, str]], run_id: Optional[int], at: str) -> None:
        self._write_rows("article_events", [{"pmid": pmid, "run_id": run_id, "event": event, "detail": detail,
                                              "at": at} for pmid, event, detail in events])

    # -- articles
    def upsert_articles(self, articles: Iterable[Article], run_id: Optional[int]) -> dict:
        """Insert or update; keep the latest PMID version.

        Returns counts (new/updated/unchanged/older/undeleted/duplicates) and ``changed``: the
        PMIDs inserted or updated, which need (re)assessment.

        Duplicates within one batch collapse to the highest version (the last one wins on ties).
        One query reads what is stored for the whole batch and a few statements write it, all in
        one transaction (a savepoint inside the caller's), so no other writer comes between.
        """
        best: dict[str, Article] = {}
        n_in = 0
        for a in articles:
            n_in += 1
            prev = best.get(a.pmid)
            if prev is None or a.version >= prev.version:
                best[a.pmid] = a
        counts: dict = {"new": 0, "updated": 0, "unchanged": 0, "older": 0, "undeleted": 0,
                        "duplicates": 0, "changed": []}
        counts["duplicates"] = n_in - len(best)
        ts = now_iso()
        with self.atomic():
            stored = {r[0]: r[1:] for r in self._pmids_in(
                "SELECT pmid, version, content_hash, deleted, retracted FROM articles WHERE pmid IN ({})", list(best))}
            writes: list[dict] = []  # new and changed rows, one upsert
            seen: list[str] = []  # unchanged rows: only last_seen_run moves
            events: list[tuple[str, str, str]] = []
            for pmid, a in best.items():
                old = stored.get(pmid)
                if old is not None and a.version < old[0]:
                    counts["older"] += 1
                    continue
                row = article_to_row(a)
                if old is None:
                    counts["new"] += 1
                    events.append((pmid, "new", f"version {a.version}"))
                    if a.is_retracted:
                        events.append((pmid, "retracted", "first seen already retracted"))
                else:
                    old_version, old_hash, was_deleted, old_retracted = old
                    if row["content_hash"] == old_hash and not was_deleted:
                        seen.append(pmid)
                        counts["unchanged"] += 1
                        continue
                    if was_deleted:
                        counts["undeleted"] += 1
                        events.append((pmid, "undeleted", ""))
                    counts["updated"] += 1
                    detail = f"version {old_version} -> {a.version}" if a.version != old_version else "content changed"
                    events.append((pmid, "updated", detail))
                    if a.is_retracted and not old_retracted:
                        events.append((pmid, "retracted", "retraction now on record"))
                counts["changed"].append(pmid)
                writes.append(row | {"updated_at": ts, "last_seen_run": run_id, "deleted": 0, "deleted_at": None,
                                     "first_seen_at": ts, "first_seen_run": run_id})
            # An update rewrites all but when the article was first seen (digest_id is not written).
            self._write_rows("articles", writes, keep=("pmid", "first_seen_at", "first_seen_run"))
            self._pmids_in("UPDATE articles SET last_seen_run = ? WHERE pmid IN ({})", seen, run_id)
            self._write_events(events, run_id, ts)
        return counts

    def mark_deleted(self, pmids: Iterable[str], run_id: Optional[int]) -> int:
        """Honour DeleteCitation: keep the row (history), flag it deleted. Returns rows flagged.

        Events follow the order given; a PMID already deleted, or never stored, is skipped.
        """
        ids = list(dict.fromkeys(pmids))
        if not ids:
            return 0
        ts = now_iso()
        with self.atomic():
            live = {r[0] for r in self._pmids_in("SELECT pmid FROM articles WHERE deleted = 0 AND pmid IN ({})", ids)}
            flagged = [p for p in ids if p in live]
            self._pmids_in("UPDATE articles SET deleted = 1, deleted_at = ? WHERE pmid IN ({})", flagged, ts)
            self._write_events([(p, "deleted", "DeleteCitation") for p in flagged], run_id, ts)
        return len(flagged)

    def events(self, run_id: Optional[int] = None, event: Optional[str] = None) -> list[dict]:
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?"); args.append(run_id)
        if event is not None:
            where.append("event = ?"); args.append(event)
        return list(self.db["article_events"].rows_where(" AND ".join(where) or None, args, order_by="id"))

    def get_article(self, pmid: str) -> Optional[Article]:
        rows = list(self.db["articles"].rows_where("pmid = ?", [str(pmid)]))
        return row_to_article(rows[0]) if rows else None

    def article_meta(self, pmid: str) -> Optional[dict]:
        rows = list(self.db["articles"].rows_where(
            "pmid = ?", [str(pmid)], select="pmid, version, deleted, retracted, first_seen_at, "
            "first_seen_run, updated_at, digest_id, entrez_date"))
        return rows[0] if rows else None

    def iter_articles(self, include_deleted: bool = False, pmids: Optional[Iterable[str]] = None) -> Iterator[Article]:
        where = None if include_deleted else "deleted = 0"
        args: list = []
        if pmids is not None:
            ids = list(pmids)
            if not ids:
                return
            marks = ",".join("?" * len(ids))
            where = f"pmid IN ({marks})" + ("" if include_deleted else " AND deleted = 0")
            args = ids
        for r in self.db["articles"].rows_where(where, args, order_by="pmid"):
            yield row_to_article(r)

    def pmids(self, include_deleted: bool = False) -> set[str]:
        sql = "SELECT pmid FROM articles" + ("" if include_deleted else " WHERE deleted = 0")
        return {r[0] for r in self.db.execute(sql)}

    def count(self, table: str, where: Optional[str] = None, args: Iterable = ()) -> int:
        if table not in self.db.table_names():
            return 0
        sql = f"SELECT count(*) FROM [{table}]" + (f" WHERE {where}" if where else "")
        return self.db.execute(sql, list(args)).fetchone()[0]

    def undigested_pmids(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT pmid FROM articles WHERE digest_id IS NULL AND deleted = 0 ORDER BY entrez_date, pmid")]

    def search(self, q: str, limit: int = 20) -> list[dict]:
        """Full-text search over titles and abstracts (FTS5, porter stemming), best first."""
        try:
            return list(self.db["articles"].search(
                q, columns=["pmid", "title", "entrez_date", "journal"], limit=limit, quote=True))
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    # -- assessments (machine output only; overrides live apart)
    def save_assessments(self, items: Iterable[DesignAssessment], run_id: Optional[int]) -> int:
        ts = now_iso()
        rows = [assessment_to_row(a) | {"assessed_at": ts, "run_id": run_id} for a in items]
        if rows:
            with self.atomic():
                self._write_rows("assessments", rows, keep=("pmid",))
        return len(rows)

    def assessor_versions(self, pmids: list[str]) -> dict[str, str]:
        return dict(self._pmids_in("SELECT pmid, assessor_version FROM assessments WHERE pmid IN ({})", list(pmids)))

    def machine_assessment(self, pmid: str) -> Optional[DesignAssessment]:
        rows = list(self.db["assessments"].rows_where("pmid = ?", [str(pmid)]))
        return row_to_assessment(rows[0]) if rows else None

    def machine_assessments(self) -> dict[str, DesignAssessment]:
        return {r["pmid"]: row_to_assessment(r) for r in self.db["assessments"].rows}

    def assessments(self, include_excluded: bool = False) -> dict[str, DesignAssessment]:
        """Effective assessments of live (not deleted) articles: machine output + reviewer overrides."""
        overrides = self.active_overrides()
        live = self.pmids()
        out = {}
        for pmid, a in self.machine_assessments().items():
            if pmid not in live:
                continue
            ov = overrides.get(pmid, {})
            if ov.get("excluded") and not include_excluded:
                continue
            out[pmid] = apply_overrides(a, ov)
        return out

    # -- overrides
    def add_override(self, pmid: str, field: str, value: Any, by: str, note: str = "") -> dict:
        if not by or not by.strip():
            raise InputError("say who made the correction: --by NAME")
        if field not in OVERRIDABLE:
            raise InputError(f"cannot override {field!r}; choose one of: {', '.join(OVERRIDABLE)}")
        if self.article_meta(pmid) is None:
            raise InputError(f"PMID {pmid} is not in the database {self.path}; run a poll first or check the number")
        current = self.active_overrides().get(pmid, {})
        if field in current:
            old = current[field]
        else:
            machine = self.machine_assessment(pmid)
            old = getattr(machine, field, None) if (machine and field != "excluded") else (False if field == "excluded" else None)
        row = {"pmid": pmid, "field": field, "old_json": _j(old), "value_json": _j(value),
               "by": by.strip(), "note": note, "at": now_iso(), "active": 1}
        with self.atomic():
            self.db.execute("UPDATE overrides SET active = 0 WHERE pmid = ? AND field = ?", [pmid, field])
            self.db["overrides"].insert(row)
        return row

    def clear_override(self, pmid: str, field: str, by: str, note: str = "") -> bool:
        with self.atomic():
            cur = self.db.execute("UPDATE overrides SET active = 0 WHERE pmid = ? AND field = ? AND active = 1",
                                  [pmid, field])
            if cur.rowcount:
                self.db["overrides"].insert({"pmid": pmid, "field": field, "old_json": None,
                                             "value_json": None, "by": by, "note": note or "cleared",
                                             "at": now_iso(), "active": 0})
        return bool(cur.rowcount)

    def active_overrides(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in self.db.execute("SELECT pmid, field, value_json FROM overrides WHERE active = 1 ORDER BY id"):
            out.setdefault(r[0], {})[r[1]] = json.loads(r[2])
        return out

    def override_history(self, pmid: Optional[str] = None) -> list[dict]:
        where, args = (("pmid = ?", [pmid]) if pmid else (None, []))
        return [dict(r, old=json.loads(r["old_json"]) if r["old_json"] else None,
                     value=json.loads(r["value_json"]) if r["value_json"] else None)
                for r in self.db["overrides"].rows_where(where, args, order_by="id")]

    # -- runs
    def start_run(self, kind: str, trigger: str, mindate: Optional[str] = None,
                  maxdate: Optional[str] = None, flow_run_id: Optional[str] = None) -> int:
        with self.atomic():
            return self.db["runs"].insert({
                "kind": kind, "trigger": trigger, "started_at": now_iso(), "status": "running",
                "mindate": mindate, "maxdate": maxdate, "counts_json": "{}", "flow_run_id": flow_run_id,
            }).last_pk

    def update_run(self, run_id: int, **values) -> None:
        if "counts" in values:
            values["counts_json"] = _j(values.pop("counts"))
        self.db["runs"].update(run_id, values)

    def finish_run(self, run_id: int, status: str, counts: Optional[dict] = None,
                   error: Optional[str] = None) -> None:
        started = self.db["runs"].get(run_id)["started_at"]
        dur = (datetime.now(timezone.utc) - datetime.fromisoformat(started)).total_seconds()
        vals = {"status": status, "finished_at": now_iso(), "error": error, "duration_s": round(dur, 3)}
        if counts is not None:
            vals["counts_json"] = _j(counts)
        with self.atomic():
            self.db["runs"].update(run_id, vals)

    def runs(self, limit: int = 10) -> list[dict]:
        rows = self.db.execute_returning_dicts(f"SELECT * FROM runs ORDER BY id DESC LIMIT {int(limit)}")
        for r in rows:
            r["counts"] = json.loads(r.pop("counts_json") or "{}")
        return rows

    def get_run(self, run_id: int) -> dict:
        r = dict(self.db["runs"].get(run_id))
        r["counts"] = json.loads(r.pop("counts_json") or "{}")
        return r

    # -- watermark
    def get_watermark(self, name: str = "pubmed") -> Optional[str]:
        row = self.db.execute("SELECT value FROM watermarks WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def set_watermark(self, value: str, run_id: Optional[int], name: str = "pubmed") -> bool:
        """Move the watermark forward only (dates compare as YYYY/MM/DD strings). True if moved."""
        current = self.get_watermark(name)
        if current is not None and value <= current:
            return False
        self.db["watermarks"].upsert({"name": name, "value": value, "updated_at": now_iso(),
                                      "run_id": run_id}, pk="name")
        return True

    # -- lease: one run at a time across processes
    def acquire_lease(self, owner: str, seconds: int, run_id: Optional[int] = None, name: str = "run") -> None:
        """Take the run lease or raise RunLocked naming who holds it.

        BEGIN IMMEDIATE takes SQLite's write lock first, so two processes cannot both see the
        lease free and both take it.
        """
        now = time.time()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT owner, acquired_at, expires_at FROM lease WHERE name = ?",
                                  [name]).fetchone()
            if row and row[0] != owner and row[2] > now:
                self.db.execute("ROLLBACK")
                left = int(row[2] - now)
                raise RunLocked(
                    f"another ldn-monitor run ({row[0]}, since {row[1]}) is in progress; "
                    f"it releases the lock when done (at the latest in {left} s) — try again then")
            self.db.execute(
                "INSERT OR REPLACE INTO lease(name, owner, acquired_at, expires_at, run_id) VALUES (?,?,?,?,?)",
                [name, owner, now_iso(), now + seconds, run_id])
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise self._translate(exc) from None

    def release_lease(self, owner: str, name: str = "run") -> None:
        self.db.execute("DELETE FROM lease WHERE name = ? AND owner = ?", [name, owner])

    def lease_holder(self, name: str = "run") -> Optional[dict]:
        rows = list(self.db["lease"].rows_where("name = ? AND expires_at > ?", [name, time.time()]))
        return rows[0] if rows else None

    # -- digests (the outbox)
    def record_digest(self, digest_id: str, *, run_id: Optional[int], subject: str, text: str,
                      html: str, eml: bytes, recipients: Iterable[str], message_id: str,
                      should_change: bool, pmids: Iterable[str], registry_event_id: int = 0) -> bool:
        """Record a rendered digest as pending and claim its articles. False if it already exists."""
        if self.db.execute("SELECT 1 FROM digests WHERE id = ?", [digest_id]).fetchone():
            return False
        pmids = list(pmids)
        self.db["digests"].insert({
            "id": digest_id, "run_id": run_id, "created_at": now_iso(), "subject": subject,
            "text": text, "html": html, "eml": eml, "recipients_json": _j(list(recipients)),
            "message_id": message_id, "status": "pending", "attempts": 0,
            "should_change": int(should_change), "pmids_json": _j(pmids),
            "registry_event_id": registry_event_id,
        })
        for chunk in range(0, len(pmids), 500):
            part = pmids[chunk:chunk + 500]
            self.db.execute(f"UPDATE articles SET digest_id = ? WHERE pmid IN ({','.join('?' * len(part))})",
                            [digest_id, *part])
        return True

    def mark_digest_sent(self, digest_id: str, method: str, detail: str) -> None:
        self.db.execute(
            "UPDATE digests SET status='sent', sent_at=?, method=?, detail=?, attempts=attempts+1, "
            "last_error=NULL WHERE id=?", [now_iso(), method, detail, digest_id])

    def mark_digest_failed(self, digest_id: str, error: str) -> None:
        self.db.execute("UPDATE digests SET attempts=attempts+1, last_error=? WHERE id=?", [error, digest_id])

    def digest_status(self, digest_id: str) -> Optional[str]:
        row = self.db.execute("SELECT status FROM digests WHERE id = ?", [digest_id]).fetchone()
        return row[0] if row else None

    def get_digest(self, digest_id: str) -> Optional[dict]:
        rows = list(self.db["digests"].rows_where("id = ?", [digest_id]))
        if not rows:
            return None
        r = rows[0]
        r["recipients"] = json.loads(r["recipients_json"] or "[]")
        r["pmids"] = json.loads(r["pmids_json"] or "[]")
        return r

    def digests(self, status: Optional[str] = None, limit: int = 20) -> list[dict]:
        where, args = (("status = ?", [status]) if status else (None, []))
        return list(self.db["digests"].rows_where(
            where, args, order_by="rowid DESC", limit=limit,  # insertion order; timestamps tie within a second
            select="id, run_id, created_at, subject, status, attempts, last_error, sent_at, method, detail, "
                   "message_id, registry_event_id"))

    # -- verdict history
    def save_verdicts(self, run_id: Optional[int], verdicts: Iterable[dict], digest_id: Optional[str] = None) -> None:
        ts = now_iso()
        rows = [{
            "run_id": run_id, "condition": v["condition"], "status": v["status"],
            "rules_json": _j(v.get("rules_fired", [])), "studies_json": _j(v.get("studies", [])),
            "cumulative_n": v.get("cumulative_n"), "largest_trial_n": v.get("largest_trial_n"),
            "detail_json": _j(v), "at": ts, "digest_id": digest_id,
        } for v in verdicts]
        if rows:
            self.db["verdicts"].insert_all(rows)

    def latest_verdicts(self, digested_only: bool = False) -> dict[str, dict]:
        """The most recent verdict per condition (optionally: as of the last recorded digest)."""
        cond = "WHERE digest_id IS NOT NULL" if digested_only else ""
        sql = (f"SELECT v.* FROM verdicts v JOIN (SELECT condition, max(id) AS id FROM verdicts {cond} "
               "GROUP BY condition) m ON v.id = m.id ORDER BY v.condition")
        return {r["condition"]: json.loads(r["detail_json"]) | {"at": r["at"], "run_id": r["run_id"]}
                for r in self.db.execute_returning_dicts(sql)}

    def verdict_history(self, condition: Optional[str] = None) -> list[dict]:
        """Status changes only: one row per condition each time its status moved."""
        where, args = (("condition = ?", [condition]) if condition else (None, []))
        out, last = [], {}
        for r in self.db["verdicts"].rows_where(where, args, order_by="id",
                                                select="condition, status, rules_json, at, run_id"):
            if last.get(r["condition"]) != r["status"]:
                out.append({"condition": r["condition"], "status": r["status"],
                            "rules_fired": json.loads(r["rules_json"] or "[]"), "at": r["at"],
                            "run_id": r["run_id"]})
                last[r["condition"]] = r["status"]
        return out

    # -- bulk-file log (ingest-files)
    def file_processed(self, sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM processed_files WHERE sha256 = ?", [sha256]).fetchone() is not None

    def record_file(self, sha256: str, path: str, records: int, matched: int, deleted: int,
                    run_id: Optional[int]) -> None:
        self.db["processed_files"].upsert({"sha256": sha256, "path": path, "records": records,
                                           "matched": matched, "deleted": deleted, "at": now_iso(),
                                           "run_id": run_id}, pk="sha256")


def apply_overrides(a: DesignAssessment, ov: dict[str, Any]) -> DesignAssessment:
    """The assessment a reviewer sees: machine values replaced by their corrections."""
    changes = {k: v for k, v in ov.items() if k in LABEL_FIELDS or k == "serious_harm"}
    if not changes:
        return a
    return replace(a, **changes, overridden=tuple(sorted(changes)))
