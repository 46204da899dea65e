"""The monitoring run, stage by stage: plan → poll+store+assess → verdict → digest → send → close.

Each stage is a plain function taking picklable arguments (Settings, run id, dates) and opening
its own Store, so the Prefect flow can wrap each one as a task (``flows/monitor.py``) and the
CLI or a test can run the very same sequence without Prefect (``run_monitor(stage=direct)``).

Idempotence, stage by stage — why a retry or a re-run never doubles anything:
- poll: every batch is upserted in its own transaction; an unchanged record is a no-op.
- digest: articles are claimed by the digest that reports them, in the same transaction that
  records the digest as pending; a later digest only reports unclaimed articles.
- send: the outbox row is checked before sending and marked sent right after; pending digests
  from earlier runs go out first.
- close: the watermark only moves forward, and only here, at the end of a successful run.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable, Optional

from . import assess as assessor
from . import digest as digest_mod
from . import mailer, registry_store, verdict
from .errors import LdnError, MailError
from .progress import Progress
from .records import Article, Study
from .settings import Settings
from .store import Store

log = logging.getLogger("ldn_monitor.pipeline")


@dataclass(frozen=True)
class RunPlan:
    run_id: int
    mindate: str
    maxdate: str
    kind: str  # poll | backfill | window | full
    owner: str


def fmt(d: date) -> str:
    return d.strftime("%Y/%m/%d")


def parse_day(value: str, name: str) -> date:
    from .errors import InputError

    for f in ("%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, f).date()
        except ValueError:
            pass
    raise InputError(f"{name}={value!r}: use YYYY-MM-DD")


def plan_window(watermark: Optional[str], settings: Settings, since: Optional[str], until: Optional[str],
                full: bool, today: date) -> tuple[str, str, str]:
    """(mindate, maxdate, kind). First run backfills; later runs overlap the watermark."""
    maxdate = parse_day(until, "--until") if until else today
    if full:
        return settings.backfill_from, fmt(maxdate), "full"
    if since:
        mindate = parse_day(since, "--since")
        if mindate > maxdate:
            from .errors import InputError
            raise InputError(f"--since {since} is after --until {fmt(maxdate)}")
        return fmt(mindate), fmt(maxdate), "window"
    if watermark is None:
        return settings.backfill_from, fmt(maxdate), "backfill"
    wm = datetime.strptime(watermark, "%Y/%m/%d").date()
    # Overlap: records can enter PubMed with an Entrez date a few days back (and re-polling is
    # free: unchanged records are no-ops), so never trust the watermark to the day.
    return fmt(min(wm - timedelta(days=settings.overlap_days), maxdate)), fmt(maxdate), "poll"


# --------------------------------------------------------------------------- stages

def start(settings: Settings, *, since: Optional[str], until: Optional[str], full: bool, trigger: str,
          flow_run_id: Optional[str] = None, today: Optional[date] = None) -> RunPlan:
    today = today or datetime.now(timezone.utc).date()
    owner = f"{trigger}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with Store(settings.db) as store:
        mindate, maxdate, kind = plan_window(store.get_watermark(), settings, since, until, full, today)
        store.acquire_lease(owner, settings.lease_seconds)
        try:
            run_id = store.start_run(kind, trigger, mindate, maxdate, flow_run_id)
        except BaseException:
            store.release_lease(owner)
            raise
    log.info("run %s (%s, %s): Entrez dates %s to %s", run_id, kind, trigger, mindate, maxdate)
    return RunPlan(run_id, mindate, maxdate, kind, owner)


def assess_batch(articles: Iterable[Article]) -> list:
    return [assessor.assess(a) for a in articles]


def store_batch(store: Store, articles: tuple[Article, ...], deleted: Iterable[str], run_id: int,
                assessed: Optional[dict] = None) -> dict:
    """One EFetch batch: upsert, honour deletions, (re)assess what changed — one transaction.

    ``assessed`` maps (pmid, version) to an assessment a worker already made (bulk ingestion
    assesses in parallel); one is used only if this assessor version made it.
    """
    with store.atomic():
        counts = store.upsert_articles(articles, run_id)
        changed = set(counts.pop("changed"))
        counts["deleted"] = store.mark_deleted(deleted, run_id)
        versions = store.assessor_versions([a.pmid for a in articles])
        latest: dict[str, Article] = {}  # the newest version of each PMID in the batch, as stored
        for a in articles:
            if a.pmid not in latest or a.version >= latest[a.pmid].version:
                latest[a.pmid] = a
        todo = {p: a for p, a in latest.items()
                if p in changed or versions.get(p) != assessor.ASSESSOR_VERSION}
        ready, rest = [], []
        for a in todo.values():
            pre = (assessed or {}).get((a.pmid, a.version))
            if pre is not None and pre.assessor_version == assessor.ASSESSOR_VERSION:
                ready.append(pre)
            else:
                rest.append(a)
        counts["assessed"] = store.save_assessments(ready + assess_batch(rest), run_id)
    return counts


def poll(settings: Settings, plan: RunPlan, client=None) -> dict:
    """ESearch the window, EFetch every batch, store and assess each batch as it arrives."""
    from .pubmed import PubMedClient

    client = client or PubMedClient(settings)
    totals = {"fetched": 0, "new": 0, "updated": 0, "unchanged": 0, "older": 0, "deleted": 0,
              "assessed": 0, "duplicates": 0, "undeleted": 0, "batches": 0}
    with Store(settings.db) as store, Progress("poll", log) as bar:
        for result in client.fetch_window(settings.query, plan.mindate, plan.maxdate):
            counts = store_batch(store, result.articles, result.deleted, plan.run_id)
            totals["batches"] += 1
            totals["fetched"] += len(result.articles)
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            store.update_run(plan.run_id, counts=totals)
            bar.advance(len(result.articles), **{k: totals[k] for k in ("new", "updated", "deleted")})
        if plan.kind == "full":
            totals.update(_diff_subject_set(settings, store, client, plan))
        totals["requests"] = getattr(client, "requests_made", None)
    return totals


def _diff_subject_set(settings: Settings, store: Store, client, plan: RunPlan) -> dict:
    """After a full re-query: stored PMIDs the subject set no longer returns are re-fetched by id;
    those PubMed no longer has (or lists in DeleteCitation) are flagged deleted."""
    subject = set(client.search_all_ids(settings.query))
    stored = store.pmids()
    missing = sorted(stored - subject)
    gone = 0
    if missing:
        seen: set[str] = set()
        for result in client.fetch_ids(missing):
            counts = store_batch(store, result.articles, result.deleted, plan.run_id)
            gone += counts["deleted"]
            seen.update(a.pmid for a in result.articles)
        vanished = [p for p in missing if p not in seen]
        with store.atomic():
            gone += store.mark_deleted(vanished, plan.run_id)
    return {"subject_set": len(subject), "left_subject_set": len(missing), "deleted": gone}


def rescore(settings: Settings, run_id: Optional[int] = None, progress_label: str = "rescore") -> dict:
    """Re-assess every stored article with the current assessor (overrides are kept apart)."""
    changed = 0
    total = 0
    with Store(settings.db) as store, Progress(progress_label, log) as bar:
        before = store.machine_assessments()
        batch: list = []
        for art in store.iter_articles():
            batch.append(assessor.assess(art))
            if len(batch) >= 500:
                changed += _save_rescored(store, batch, before, run_id)
                total += len(batch)
                bar.advance(len(batch))
                batch = []
        if batch:
            changed += _save_rescored(store, batch, before, run_id)
            total += len(batch)
            bar.advance(len(batch))
    return {"assessed": total, "changed": changed}


def _save_rescored(store: Store, batch: list, before: dict, run_id: Optional[int]) -> int:
    changed = sum(1 for a in batch if a.pmid not in before or before[a.pmid].labels() != a.labels())
    with store.atomic():
        store.save_assessments(batch, run_id)
    return changed


def load_studies(store: Store) -> dict[str, Study]:
    """Effective (override-applied) assessments joined with article facts, as the verdict sees them."""
    effective = store.assessments()
    studies = {}
    for art in store.iter_articles(pmids=list(effective)):
        meta = store.article_meta(art.pmid)
        studies[art.pmid] = Study(
            pmid=art.pmid, title=art.title, assessment=effective[art.pmid], entrez_date=art.entrez_date,
            pub_year=art.pub_year, doi=art.doi, retracted=art.is_retracted,
            url=digest_mod.pubmed_url(art.pmid), first_seen=meta["first_seen_at"] if meta else None)
    for extra in _registry_studies(store):
        studies.setdefault(extra.pmid, extra)
    return studies


def _registry_studies(store: Store) -> list[Study]:
    from . import registry_store

    return registry_store.studies(store.db)


def compute(settings: Settings, rules: dict) -> tuple[verdict.VerdictReport, dict[str, Study]]:
    with Store(settings.db) as store:
        studies = load_studies(store)
    return verdict.evaluate(studies.values(), rules), studies


def digest_id_for(run_id: Optional[int], pmids: list[str], report: verdict.VerdictReport, when: datetime) -> str:
    h = hashlib.sha256(("|".join(sorted(pmids)) + "#" + ",".join(
        f"{c.condition}={c.status}" for c in report.conditions) + f"#{run_id}").encode()).hexdigest()[:10]
    return f"{when:%Y%m%d}-r{run_id}-{h}"


def prepare_digest(settings: Settings, rules: dict, run_id: Optional[int], *, window: Optional[str] = None,
                   notes: Iterable[str] = (), force: bool = False, record: bool = True,
                   now: Optional[datetime] = None) -> Optional[dict]:
    """Render the next digest; record it as pending (claiming its studies) unless ``record=False``.

    Returns None when there is nothing to say (no new study, no status moved) and neither
    LDN_DIGEST_WHEN_EMPTY nor ``force`` asks for one.
    """
    from .chart import evidence_map_png

    now = now or datetime.now(timezone.utc)
    with Store(settings.db) as store:
        studies = load_studies(store)
        report = verdict.evaluate(studies.values(), rules)
        new_pmids = [p for p in store.undigested_pmids() if p in studies]
        previous = store.latest_verdicts(digested_only=True)
        moved = verdict.moved(previous, report)
        last = store.digests(limit=1)
        covered = (last[0]["registry_event_id"] or 0) if last else None
        signals = registry_store.signals(store.db, now.date(), after_event_id=covered)
        last_event = registry_store.last_event_id(store.db)
        upcoming = registry_store.upcoming(store.db, rules)
        # Registry news (a trial completed, results posted) is worth a digest on its own; the
        # standing publication-bias list is not, or it would mail every week.
        news = [x for x in signals if x["kind"] != "publication_bias"]
        if not new_pmids and not moved and not news and not (settings.digest_when_empty or force):
            if record:
                store.save_verdicts(run_id, [c.to_dict() for c in report.conditions])
            log.info("nothing new and no verdict moved: no digest (LDN_DIGEST_WHEN_EMPTY=true sends one anyway)")
            return None
        chart = evidence_map_png(report, studies, rules)
        d = digest_mod.render(report, studies, new_pmids, moved, rules, generated_at=now, window=window,
                              notes=notes, chart_png=chart, registry_signals=signals,
                              registry_upcoming=upcoming)
        digest_id = digest_id_for(run_id, new_pmids, report, now)
        domain = settings.mail_from.rpartition("@")[2] or "ldn-monitor.local"
        msg = mailer.build_message(
            subject=d.subject, text=d.text, html=d.html, sender=settings.mail_from,
            recipients=list(settings.mail_to) or ["reviewers@localhost"],
            message_id=mailer.make_message_id(digest_id, domain), date=now, inline_images=dict(d.images),
            headers={"X-LDN-Digest-Id": digest_id})
        eml = msg.as_bytes(policy=mailer.WIRE_POLICY)
        info = {"id": digest_id, "subject": d.subject, "text": d.text, "html": d.html, "eml": eml,
                "chart": chart, "should_change": d.should_change, "new": len(new_pmids),
                "moved": moved, "report": report.to_dict()}
        if record:
            with store.atomic():
                store.record_digest(digest_id, run_id=run_id, subject=d.subject, text=d.text, html=d.html,
                                    eml=eml, recipients=[a.addr_spec for a in msg["To"].addresses],
                                    message_id=msg["Message-ID"], should_change=d.should_change, pmids=new_pmids,
                                registry_event_id=last_event)
                store.save_verdicts(run_id, [c.to_dict() for c in report.conditions], digest_id=digest_id)
        return info


def send_pending(settings: Settings, only: Optional[str] = None, resend: bool = False) -> list[dict]:
    """Deliver pending digests, oldest first; each goes out at most once unless ``resend``."""
    out = []
    with Store(settings.db) as store:
        if only:
            row = store.get_digest(only)
            if row is None:
                from .errors import InputError
                raise InputError(f"no digest {only!r}; `ldn-monitor status` lists them")
            rows = [row]
        else:
            rows = sorted(store.digests(status="pending", limit=1000), key=lambda r: (r["created_at"], r["id"]))
        for r in rows:
            full = store.get_digest(r["id"])
            if full["status"] == "sent" and not resend:
                continue  # another attempt got there first (a Prefect retry, a concurrent resend)
            msg = email.message_from_bytes(full["eml"], policy=email.policy.default)
            try:
                delivery = mailer.deliver(settings, msg, full["id"])
            except MailError as exc:
                store.mark_digest_failed(full["id"], str(exc))
                log.warning("digest %s not sent, stays pending: %s", full["id"], exc)
                out.append({"id": full["id"], "status": "pending", "error": str(exc)})
                continue
            if full["status"] != "sent":
                store.mark_digest_sent(full["id"], delivery.method, delivery.detail)
            log.info("digest %s delivered by %s: %s", full["id"], delivery.method, delivery.detail)
            out.append({"id": full["id"], "status": "sent", "method": delivery.method, "detail": delivery.detail})
    return out


def finish(settings: Settings, plan: RunPlan, counts: dict, status: str = "succeeded",
           error: Optional[str] = None) -> None:
    """Close the run; on success move the watermark (never backwards), then drop the lease."""
    with Store(settings.db) as store:
        try:
            with store.atomic():
                if status in ("succeeded", "mail_pending") and plan.kind in ("poll", "backfill", "full", "window"):
                    counts["watermark_moved"] = store.set_watermark(plan.maxdate, plan.run_id)
                store.finish_run(plan.run_id, status, counts, error)
        finally:
            store.release_lease(plan.owner)


def direct(name: str, fn: Callable, *args, **kwargs):
    """Stage runner without Prefect: just call it."""
    return fn(*args, **kwargs)


def run_monitor(settings: Settings, rules: dict, *, since: Optional[str] = None, until: Optional[str] = None,
                full: bool = False, trigger: str = "cli", stage: Callable = direct, client=None,
                registry_client=None, flow_run_id: Optional[str] = None) -> dict:
    """One complete run. ``stage(name, fn, *args)`` lets the flow run each step as a Prefect task."""
    plan = stage("start", start, settings, since=since, until=until, full=full, trigger=trigger,
                 flow_run_id=flow_run_id)
    counts: dict = {}
    notes: list[str] = []
    try:
        counts = stage("poll", poll, settings, plan, client)
        if settings.registry:
            reg = stage("registry", poll_registry, settings, plan, registry_client)
            counts["registry"] = reg
            if reg.get("error"):
                notes.append(f"ClinicalTrials.gov could not be reached this run ({reg['error']}); "
                             "registry evidence below is as of the last successful check.")
        window = f"{plan.mindate} to {plan.maxdate}"
        info = stage("digest", prepare_digest, settings, rules, plan.run_id, window=window, notes=notes)
        counts["digest"] = info["id"] if info else None
        sent = stage("send", send_pending, settings)
        counts["sent"] = [s["id"] for s in sent if s["status"] == "sent"]
        pending = [s for s in sent if s["status"] == "pending"]
        status = "mail_pending" if pending else "succeeded"
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, LdnError) else f"{type(exc).__name__}: {exc}"
        stage("finish", finish, settings, plan, counts, "failed", msg)
        raise
    stage("finish", finish, settings, plan, counts, status)
    counts.update(run_id=plan.run_id, status=status, window=[plan.mindate, plan.maxdate], kind=plan.kind,
                  digest_info=info)
    return counts


def poll_registry(settings: Settings, plan: RunPlan, client=None) -> dict:
    """ClinicalTrials.gov step; an outage is reported, never fatal to the PubMed part."""
    try:
        return registry_store.poll(settings, plan.run_id, client)
    except LdnError as exc:
        log.warning("ClinicalTrials.gov step failed: %s", exc)
        return {"error": str(exc)}
