"""Registry trials in the SQLite store: upsert with a history of changes, links to PubMed, signals.

Tables (``create_tables``, idempotent — safe to call on every open):

- ``trials``: one row per NCT id with the design fields (allocation, masking, arm types, enrollment
  count and ACTUAL/ESTIMATED, phases, conditions, status, dates, hasResults), the assessed
  ``design``/``condition``/``is_ldn`` for SQL browsing, and ``raw_json`` (the study as the API sent
  it: reading code re-derives everything from it, so an assessor change needs no migration).
- ``trial_events``: ``(nct_id, event, old, new, at, run_id)``; events are *observed changes*:
  ``first_seen``, ``status_changed``, ``enrollment_changed``, ``completed``, ``results_posted``.
  First sight of a trial that finished long ago is history, not news: ``completed`` /
  ``results_posted`` are recorded at first sight only when that happened within the last year.

Why a linked trial is left out of :func:`studies`: the paper already represents it in the verdict,
and counting both would count its participants twice.

Incremental polling (:func:`poll`): from the ``ctgov`` watermark minus ``LDN_OVERLAP_DAYS`` (a trial
posted late with an earlier LastUpdatePostDate is re-read, and re-reading is free: unchanged
records are no-ops); the first run fetches everything. The watermark (``YYYY-MM-DD``, the run's
day) moves only after every page arrived.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Optional

from . import registry_assess as ra
from .records import Study

log = logging.getLogger("ldn_monitor.registry_store")

WATERMARK = "ctgov"
STUDY_URL = "https://clinicaltrials.gov/study/"
PUBLICATION_BIAS_MONTHS = 12
NEWS_DAYS = 365  # a completion/result first seen this recently is still news
BATCH = 200  # trials per transaction while polling

EVENT_WORDS = {
    "first_seen": "first seen", "status_changed": "status changed", "enrollment_changed": "enrollment changed",
    "completed": "trial completed", "results_posted": "results posted",
    "publication_bias": "completed ≥ 12 months ago with no linked publication",
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --------------------------------------------------------------------------- schema

def create_tables(db) -> None:
    """Create ``trials`` and ``trial_events`` (and their indexes) if missing."""
    db["trials"].create({
        "nct_id": str, "title": str, "brief_title": str, "acronym": str, "overall_status": str,
        "why_stopped": str, "study_type": str, "phases_json": str, "allocation": str,
        "intervention_model": str, "masking": str, "arm_types_json": str, "enrollment_count": int,
        "enrollment_type": str, "conditions_json": str, "condition": str, "design": str, "is_ldn": int,
        "start_date": str, "primary_completion_date": str, "completion_date": str,
        "completion_date_type": str, "first_post_date": str, "last_update_post_date": str,
        "results_first_post_date": str, "has_results": int, "result_pmids_json": str,
        "raw_json": str, "content_hash": str, "first_seen_at": str, "first_seen_run": int,
        "updated_at": str, "last_seen_run": int,
    }, pk="nct_id", not_null={"nct_id"}, if_not_exists=True)
    db["trial_events"].create({
        "id": int, "nct_id": str, "event": str, "old": str, "new": str, "at": str, "run_id": int,
    }, pk="id", if_not_exists=True)
    db.executescript("""
        CREATE INDEX IF NOT EXISTS idx_trial_events_nct ON trial_events(nct_id, id);
        CREATE INDEX IF NOT EXISTS idx_trial_events_event ON trial_events(event, at);
        CREATE INDEX IF NOT EXISTS idx_trials_update ON trials(last_update_post_date);
    """)


def _has_tables(db) -> bool:
    return "trials" in db.table_names()


# --------------------------------------------------------------------------- upsert

def _row(rec: dict, a, raw: dict) -> dict:
    raw_json = _j(raw)
    return {
        "nct_id": rec["nct_id"], "title": rec["title"], "brief_title": rec["brief_title"],
        "acronym": rec["acronym"], "overall_status": rec["overall_status"], "why_stopped": rec["why_stopped"],
        "study_type": rec["study_type"], "phases_json": _j(rec["phases"]), "allocation": rec["allocation"],
        "intervention_model": rec["intervention_model"], "masking": rec["masking"],
        "arm_types_json": _j(rec["arm_types"]), "enrollment_count": rec["enrollment_count"],
        "enrollment_type": rec["enrollment_type"], "conditions_json": _j(rec["conditions"]),
        "condition": a.condition, "design": a.design, "is_ldn": None if a.is_ldn is None else int(a.is_ldn),
        "start_date": rec["start_date"], "primary_completion_date": rec["primary_completion_date"],
        "completion_date": rec["completion_date"], "completion_date_type": rec["completion_date_type"],
        "first_post_date": rec["first_post_date"], "last_update_post_date": rec["last_update_post_date"],
        "results_first_post_date": rec["results_first_post_date"], "has_results": int(rec["has_results"]),
        "result_pmids_json": _j(rec["result_pmids"]), "raw_json": raw_json,
        "content_hash": hashlib.sha256(raw_json.encode()).hexdigest()[:16],
    }


def _recent(day: Optional[str], today: date) -> bool:
    d = ra.date_floor(day)
    return bool(d) and d >= (today - timedelta(days=NEWS_DAYS)).isoformat()


def upsert_studies(db, studies: Iterable[dict], run_id: Optional[int], today: Optional[date] = None) -> dict:
    """Insert or update raw v2 studies, recording change events. Caller owns the transaction."""
    today = today or datetime.now(timezone.utc).date()
    counts = {"new": 0, "updated": 0, "unchanged": 0, "events": 0}
    ts = _now()
    events: list[dict] = []

    def event(nct: str, name: str, old=None, new=None):
        events.append({"nct_id": nct, "event": name, "old": None if old is None else str(old),
                       "new": None if new is None else str(new), "at": ts, "run_id": run_id})

    for raw in studies:
        rec = ra.registry_record(raw)
        nct = rec["nct_id"]
        if not nct:
            continue
        row = _row(rec, ra.assess_registry(rec), raw)
        old = db.execute("SELECT content_hash, overall_status, enrollment_count, enrollment_type, has_results "
                         "FROM trials WHERE nct_id = ?", [nct]).fetchone()
        if old is None:
            row.update(first_seen_at=ts, first_seen_run=run_id, updated_at=ts, last_seen_run=run_id)
            db["trials"].insert(row)
            counts["new"] += 1
            event(nct, "first_seen", None, rec["overall_status"])
            if rec["overall_status"] == "COMPLETED" and _recent(rec["completion_date"], today):
                event(nct, "completed", None, rec["completion_date"])
            if rec["has_results"] and _recent(rec["results_first_post_date"], today):
                event(nct, "results_posted", None, rec["results_first_post_date"])
            continue
        old_hash, old_status, old_n, old_type, old_results = old
        if old_hash == row["content_hash"]:
            db["trials"].update(nct, {"last_seen_run": run_id})
            counts["unchanged"] += 1
            continue
        row.update(updated_at=ts, last_seen_run=run_id)
        db["trials"].update(nct, row)
        counts["updated"] += 1
        if old_status != rec["overall_status"]:
            event(nct, "status_changed", old_status, rec["overall_status"])
            if rec["overall_status"] == "COMPLETED":
                event(nct, "completed", old_status, rec["completion_date"])
        before = f"{old_n} {old_type}" if old_type else (None if old_n is None else str(old_n))
        after = ra.enrollment_text(rec)
        if (old_n, old_type) != (rec["enrollment_count"], rec["enrollment_type"]):
            event(nct, "enrollment_changed", before, after)
        if rec["has_results"] and not old_results:
            event(nct, "results_posted", None, rec["results_first_post_date"])
    if events:
        db["trial_events"].insert_all(events)
    counts["events"] = len(events)
    return counts


# --------------------------------------------------------------------------- polling

def poll(settings, run_id: Optional[int], client=None, *, today: Optional[date] = None) -> dict:
    """Fetch LDN trials updated since the ``ctgov`` watermark (all on the first run) and store them.

    Returns counts; raises RegistryError (the watermark stays put) when the registry fails.
    """
    from .registry import CTGovClient
    from .store import Store

    today = today or datetime.now(timezone.utc).date()
    own = client is None
    client = client or CTGovClient(settings)
    totals = {"fetched": 0, "new": 0, "updated": 0, "unchanged": 0, "events": 0}
    try:
        with Store(settings.db) as store:
            with store.atomic():
                create_tables(store.db)
            watermark = store.get_watermark(WATERMARK)
            since = None
            if watermark:
                wm = date.fromisoformat(watermark)
                since = min(wm - timedelta(days=int(settings.overlap_days)), today).isoformat()
            totals["since"] = since
            batch: list[dict] = []

            def flush():
                with store.atomic():
                    for k, v in upsert_studies(store.db, batch, run_id, today).items():
                        totals[k] += v
                batch.clear()

            for study in client.iter_studies(since):
                batch.append(study)
                totals["fetched"] += 1
                if len(batch) >= BATCH:
                    flush()
            if batch:
                flush()
            with store.atomic():
                totals["watermark_moved"] = store.set_watermark(today.isoformat(), run_id, name=WATERMARK)
            totals["total"] = getattr(client, "total_count", None)
            totals["requests"] = getattr(client, "requests_made", None)
            totals["trials"] = store.count("trials")
    finally:
        if own:
            client.close()
    log.info("ClinicalTrials.gov: %s", totals)
    return totals


# --------------------------------------------------------------------------- reading

def links(db) -> dict[str, list[str]]:
    """NCT id → PMIDs of stored (not deleted) articles naming it: DataBank list or abstract text,
    plus the registry's own RESULT/DERIVED references to a stored PMID."""
    out: dict[str, list[str]] = {}
    if "articles" not in db.table_names():
        return out

    def add(nct: str, pmid: str):
        nct = nct.upper()
        if pmid not in out.setdefault(nct, []):
            out[nct].append(pmid)

    rows = db.execute("SELECT pmid, registry_ids_json, title, abstract FROM articles WHERE deleted = 0 "
                      "AND (registry_ids_json LIKE '%NCT%' OR abstract LIKE '%NCT%' OR title LIKE '%NCT%') "
                      "ORDER BY pmid").fetchall()
    for pmid, ids_json, title, abstract in rows:
        ids = [i for i in json.loads(ids_json or "[]") if str(i).upper().startswith("NCT")]
        # The parser already takes NCT ids from the abstract; reading it again covers older rows.
        for nct in dict.fromkeys([*ids, *ra.nct_ids_in(title or ""), *ra.nct_ids_in(abstract or "")]):
            add(str(nct), pmid)
    if _has_tables(db):
        stored = None
        for nct, pmids_json in db.execute("SELECT nct_id, result_pmids_json FROM trials "
                                          "WHERE result_pmids_json != '[]'").fetchall():
            pmids = json.loads(pmids_json or "[]")
            if stored is None:
                stored = {r[0] for r in db.execute("SELECT pmid FROM articles WHERE deleted = 0")}
            for p in pmids:
                if p in stored:
                    add(nct, p)
    return out


def _load(db) -> list[tuple[dict, dict, object]]:
    """(row, flat record, assessment) per stored trial, re-derived from raw_json."""
    if not _has_tables(db):
        return []
    out = []
    for row in db["trials"].rows_where(order_by="nct_id"):
        rec = ra.registry_record(json.loads(row["raw_json"]))
        out.append((row, rec, ra.assess_registry(rec)))
    return out


def study_date(rec: dict) -> Optional[str]:
    """When the trial's evidence became public (``YYYY-MM-DD``): the day results were posted; for a
    completed trial without results its completion; otherwise the last update (an ongoing trial's
    completion date is a forecast, not a date the evidence had)."""
    if ra.has_registry_results(rec):
        keys = ("results_first_post_date", "completion_date", "last_update_post_date")
    elif rec.get("overall_status") == "COMPLETED":
        keys = ("completion_date", "last_update_post_date")
    else:
        keys = ("last_update_post_date", "first_post_date")
    for key in keys:
        d = ra.date_floor(rec.get(key))
        if d:
            return d
    return None


def _counts_as_evidence(rec: dict) -> bool:
    status = rec.get("overall_status")
    if status in ra.DEAD_STATUSES:
        return False
    if status in ("TERMINATED", "SUSPENDED") and not ra.has_registry_results(rec):
        return False  # stopped without results: nothing is coming; the status event already said so
    return True


def studies(db) -> list[Study]:
    """Registry trials as verdict studies: not linked to a stored article, not withdrawn, not stopped
    without results, and not shown to be something other than LDN."""
    linked = links(db)
    out = []
    for row, rec, a in _load(db):
        nct = rec["nct_id"]
        if nct in linked or not _counts_as_evidence(rec) or a.is_ldn is False:
            continue
        day = study_date(rec)
        out.append(Study(
            pmid=nct, title=rec["title"] or rec["brief_title"] or nct, assessment=a, entrez_date=day,
            pub_year=int(day[:4]) if day else None, source="registry", url=STUDY_URL + nct,
            first_seen=row["first_seen_at"]))
    return out


def _trial_view(row: dict, rec: dict, a) -> dict:
    return {
        "nct_id": rec["nct_id"], "url": STUDY_URL + rec["nct_id"], "title": rec["title"] or rec["brief_title"],
        "condition": a.condition or "unspecified", "status": rec["overall_status"],
        "status_words": ra.STATUS_WORDS.get(rec["overall_status"] or "", rec["overall_status"]),
        "enrollment": rec["enrollment_count"], "enrollment_type": rec["enrollment_type"],
        "enrollment_text": ra.enrollment_text(rec), "design": a.design,
        "randomized": a.randomized, "blinding": a.blinding, "control": a.control,
        "has_results": rec["has_results"], "phases": rec["phases"],
        "dates": {"start": rec["start_date"], "primary_completion": rec["primary_completion_date"],
                  "completion": rec["completion_date"], "completion_type": rec["completion_date_type"],
                  "results_first_posted": rec["results_first_post_date"],
                  "last_update_posted": rec["last_update_post_date"], "first_posted": rec["first_post_date"]},
        "limitations": list(a.limitations),
    }


def _published(rec: dict, linked: dict) -> bool:
    # A RESULT/DERIVED reference on the registry counts even when we do not store that paper.
    return rec["nct_id"] in linked or bool(rec.get("result_pmids"))


def signals(db, today: date, after_event_id: Optional[int] = None) -> list[dict]:
    """Registry news for the digest, oldest event first, then the standing publication-bias list.

    - ``trial_completed`` / ``results_posted``: recorded events (only those with an id above
      ``after_event_id``, the last event the previous digest covered, when given; ids, not
      timestamps, because a poll and the digest after it often share a second);
    - ``publication_bias``: a state, listed every time while true: status COMPLETED, completion
      date (read as the last day it can mean) 12 or more months before ``today``, no linked
      publication (no stored article names the NCT id, no RESULT reference on the registry).
    Trials shown not to be LDN are left out. Each item: ``kind``, ``label`` and the trial's
    ``nct_id``, ``condition``, ``title``, ``enrollment``, ``status``, ``dates`` (and ``at`` for events,
    ``months_since_completion`` for publication bias).
    """
    if not _has_tables(db):
        return []
    loaded = {rec["nct_id"]: (row, rec, a) for row, rec, a in _load(db)}
    linked = links(db)
    out: list[dict] = []
    where, args = "event IN ('completed', 'results_posted')", []
    if after_event_id is not None:
        where += " AND id > ?"
        args.append(after_event_id)
    for ev in db["trial_events"].rows_where(where, args, order_by="id"):
        item = loaded.get(ev["nct_id"])
        if item is None or item[2].is_ldn is False:
            continue
        kind = "trial_completed" if ev["event"] == "completed" else "results_posted"
        out.append({"kind": kind, "label": EVENT_WORDS[ev["event"]], "at": ev["at"], "run_id": ev["run_id"],
                    "event_id": ev["id"],
                    "linked_pmids": linked.get(ev["nct_id"], []), **_trial_view(*item)})
    cutoff = ra.add_months(today, -PUBLICATION_BIAS_MONTHS).isoformat()
    for nct, (row, rec, a) in sorted(loaded.items()):
        if rec["overall_status"] != "COMPLETED" or a.is_ldn is False or _published(rec, linked):
            continue
        done = ra.date_ceil(rec["completion_date"])
        if not done or done > cutoff:
            continue
        d = date.fromisoformat(done)
        months = (today.year - d.year) * 12 + (today.month - d.month) - (today.day < d.day)
        out.append({"kind": "publication_bias", "label": EVENT_WORDS["publication_bias"],
                    "months_since_completion": months, "linked_pmids": [], **_trial_view(row, rec, a)})
    return out


def last_event_id(db) -> int:
    """The newest registry event id (0 when none): what a digest records as covered."""
    if not _has_tables(db):
        return 0
    return db.execute("SELECT coalesce(max(id), 0) FROM trial_events").fetchone()[0]


def upcoming(db, rules: Optional[dict] = None) -> dict[str, list[dict]]:
    """Per condition: large randomized blinded LDN trials recruiting, active or completed, not yet
    represented by a paper. "Large" and "blinded" are the pivotal-trial thresholds of the rules
    (``[pivotal] min_n``, ``blinding``); without rules, n ≥ 100 and double/triple."""
    pivotal = (rules or {}).get("pivotal", {})
    min_n = int(pivotal.get("min_n", 100))
    blind = tuple(pivotal.get("blinding", ("double", "triple")))
    linked = links(db)
    out: dict[str, list[dict]] = {}
    for row, rec, a in _load(db):
        if rec["nct_id"] in linked or a.is_ldn is not True or a.randomized is not True:
            continue
        if rec["overall_status"] not in (*ra.ONGOING_STATUSES, "COMPLETED"):
            continue
        if a.blinding not in blind or (a.n_enrolled or 0) < min_n:
            continue
        out.setdefault(a.condition or "unspecified", []).append(_trial_view(row, rec, a))
    for items in out.values():
        items.sort(key=lambda t: (-(t["enrollment"] or 0), t["nct_id"]))
    return dict(sorted(out.items()))


def events(db, nct_id: Optional[str] = None, run_id: Optional[int] = None) -> list[dict]:
    """Recorded trial events, oldest first (optionally for one trial or one run)."""
    if "trial_events" not in db.table_names():
        return []
    where, args = [], []
    if nct_id is not None:
        where.append("nct_id = ?"); args.append(nct_id)
    if run_id is not None:
        where.append("run_id = ?"); args.append(run_id)
    return list(db["trial_events"].rows_where(" AND ".join(where) or None, args, order_by="id"))
