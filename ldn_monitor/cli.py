"""`ldn-monitor …`: the reviewers' command line. A thin client over the library.

Every command has help with an example (``ldn-monitor COMMAND --help``). Errors print one line,
``error: …``, and exit 1; a usage mistake exits 2.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Optional

from .errors import InputError, LdnError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _prefect_env() -> None:
    """Prefect defaults that must be in place before prefect is imported."""
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _settings(args):
    from .settings import load_settings

    s = load_settings(config=getattr(args, "config", None))
    if getattr(args, "db", None):
        s = s.replace(db=Path(args.db))
    return s


def _rules(settings):
    from .settings import load_rules

    return load_rules(settings.rules)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


# --------------------------------------------------------------------------- commands

def cmd_run(args) -> int:
    settings = _settings(args)
    overrides = {"db": str(settings.db)} if args.db else {}
    counts = _run_flow(settings, overrides, getattr(args, "config", None), since=args.since, until=args.until,
                       full=args.full, trigger="cli", use_prefect=not args.no_prefect)
    _summarize_run(settings, counts)
    return 0 if counts["status"] in ("succeeded",) else 3


def _run_flow(settings, overrides: dict, config, *, since=None, until=None, full=False, trigger="cli",
              use_prefect=True) -> dict:
    """The Prefect flow gets only non-secret overrides and rebuilds Settings itself."""
    if use_prefect:
        _prefect_env()
        from flows.monitor import monitor

        return monitor(since=since, until=until, full=full, trigger=trigger, overrides=overrides, config=config)
    from .pipeline import run_monitor

    counts = run_monitor(settings, _rules(settings), since=since, until=until, full=full, trigger=trigger)
    counts.pop("digest_info", None)
    return counts


def _summarize_run(settings, counts: dict) -> None:
    print(f"run {counts['run_id']} ({counts['kind']}): {counts['status']}, Entrez dates "
          f"{counts['window'][0]} to {counts['window'][1]}")
    print(f"  fetched {counts.get('fetched', 0)}: new {counts.get('new', 0)}, updated {counts.get('updated', 0)}, "
          f"unchanged {counts.get('unchanged', 0)}, deleted {counts.get('deleted', 0)}; "
          f"{counts.get('requests')} E-utilities requests")
    reg = counts.get("registry")
    if isinstance(reg, dict) and reg:
        print("  registry: " + ", ".join(f"{k} {v}" for k, v in reg.items()))
    if counts.get("digest"):
        print(f"  digest {counts['digest']} recorded")
    else:
        print("  no digest: nothing new and no verdict moved")
    for d in counts.get("sent", []):
        from .store import Store

        with Store(settings.db) as store:
            row = store.get_digest(d)
        print(f"  sent {d} by {row['method']}: {row['detail']}")
    print(f"  database: {settings.db}")


def cmd_demo(args) -> int:
    from .replay import ReplayServer
    from .settings import load_settings

    snapshot = Path(args.snapshot)
    if not (snapshot / "pubmed.xml").exists():
        raise InputError(f"no snapshot at {snapshot}; build it with `python scripts/build_snapshot.py`")
    base = load_settings(config=args.config)
    with ReplayServer(snapshot) as server:
        with_registry = _mount_registry(server, snapshot)
        overrides = {"eutils_url": server.url, "ctgov_url": server.url.split("/entrez/")[0] + "/api/v2/",
                     "rate": 50.0}
        if not args.smtp:
            overrides["smtp_host"] = None
        if args.db:
            overrides["db"] = args.db
        settings = base.replace(**{k: Path(v) if k == "db" else v for k, v in overrides.items()})
        print(f"replay server for PubMed E-utilities{' and ClinicalTrials.gov' if with_registry else ''} "
              f"on {server.url} (snapshot {snapshot})")
        counts = _run_flow(settings, overrides, args.config, trigger="demo", use_prefect=not args.no_prefect)
    _summarize_run(settings, counts)
    from .store import Store

    with Store(settings.db) as store:
        print(f"  articles in database: {store.count('articles')} "
              f"(assessed {store.count('assessments')}); outbox: {settings.outbox}")
    return 0 if counts["status"] == "succeeded" else 3


def _mount_registry(server, snapshot: Path) -> bool:
    """Serve the registry snapshot too, when there is one. True if mounted."""
    try:
        from .ctgov_replay import mount
    except ImportError:
        return False
    if not (snapshot / "ctgov").exists():
        return False
    mount(server, snapshot / "ctgov")
    return True


def cmd_status(args) -> int:
    from .pipeline import compute
    from .store import Store

    settings = _settings(args)
    if not Path(settings.db).exists():
        raise InputError(f"no database at {settings.db} yet; run `ldn-monitor demo` or `ldn-monitor run` first")
    with Store(settings.db) as store:
        wm = store.get_watermark()
        runs = store.runs(args.runs)
        pending = store.digests(status="pending")
        holder = store.lease_holder()
        n_art, n_del = store.count("articles", "deleted = 0"), store.count("articles", "deleted = 1")
        n_ov = store.count("overrides", "active = 1")
    report, _ = compute(settings, _rules(settings))
    if args.format == "json":
        _print_json({"database": str(settings.db), "watermark": wm, "articles": n_art, "deleted": n_del,
                     "active_overrides": n_ov, "running": holder, "runs": runs, "pending_digests": pending,
                     "verdicts": report.to_dict()})
        return 0
    print(f"database   {settings.db}  ({n_art} articles, {n_del} deleted, {n_ov} reviewer overrides)")
    print(f"watermark  {wm or '(none: the next run backfills everything)'}")
    if holder:
        print(f"running    {holder['owner']} since {holder['acquired_at']}")
    print("\nlast runs")
    for r in runs:
        c = r["counts"]
        print(f"  #{r['id']:<4} {r['started_at']}  {r['kind']:<8} {r['trigger']:<10} {r['status']:<12} "
              f"{r['mindate'] or ''}..{r['maxdate'] or ''}  new {c.get('new', 0)} upd {c.get('updated', 0)} "
              f"del {c.get('deleted', 0)}  {r['duration_s'] or 0:.1f}s"
              + (f"\n        error: {r['error']}" if r["error"] else ""))
    print(f"\npending digests: {len(pending)}")
    for d in pending:
        print(f"  {d['id']}  {d['subject']}  (attempts {d['attempts']}; last error: {d['last_error'] or '-'})")
    print()
    _verdict_table(report)
    return 0


def _verdict_table(report) -> None:
    print(f"verdict {'SHOULD CHANGE' if report.should_change else 'stands'} (rules {report.rules_version}, "
          f"verdict of {report.verdict_date})")
    print(f"  {'condition':<36} {'status':<20} {'RCTs':>4} {'cum. n':>7} {'largest':>7}  rules")
    for c in sorted(report.conditions, key=lambda c: (c.status == "unchanged", c.condition)):
        print(f"  {c.condition[:36]:<36} {c.status:<20} {c.randomized_trials:>4} {c.cumulative_n:>7} "
              f"{c.largest_trial_n if c.largest_trial_n is not None else '-':>7}  {', '.join(c.rules_fired) or '-'}")


def cmd_verdicts(args) -> int:
    from .pipeline import compute

    settings = _settings(args)
    report, _ = compute(settings, _rules(settings))
    if args.format == "json":
        _print_json(report.to_dict())
    else:
        _verdict_table(report)
    if args.history:
        from .store import Store

        with Store(settings.db) as store:
            print("\nstatus history")
            for h in store.verdict_history():
                print(f"  {h['at']}  run {h['run_id']}  {h['condition']}: {h['status']} {h['rules_fired'] or ''}")
    return 0


def cmd_assess(args) -> int:
    from .evaluate import assess_record, load_jsonl

    records = load_jsonl(args.input)
    out = open(args.output, "w", encoding="utf-8") if args.output != "-" else sys.stdout
    try:
        for rec in records:
            out.write(json.dumps(assess_record(rec), ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output != "-":
        print(f"assessed {len(records)} records -> {args.output}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import assess_record, evaluate, format_report, load_jsonl

    gold = load_jsonl(args.gold)
    preds = load_jsonl(args.predictions) if args.predictions else [assess_record(r) for r in gold]
    report = evaluate(gold, preds)
    print(format_report(report))
    return 0


def cmd_rescore(args) -> int:
    from .pipeline import compute, prepare_digest, rescore, send_pending
    from .store import Store

    settings = _settings(args)
    rules = _rules(settings)
    before, _ = compute(settings, rules)
    counts = rescore(settings)
    after, _ = compute(settings, rules)
    print(f"re-assessed {counts['assessed']} articles; {counts['changed']} readings changed "
          "(reviewer overrides kept)")
    b = {c.condition: c.status for c in before.conditions}
    a = {c.condition: c.status for c in after.conditions}
    moves = [(k, b.get(k, "unchanged"), a.get(k, "unchanged")) for k in sorted(set(a) | set(b))
             if b.get(k, "unchanged") != a.get(k, "unchanged")]
    if moves:
        print("verdicts that move:")
        for k, x, y in moves:
            print(f"  {k}: {x} -> {y}")
    else:
        print("no verdict moves")
    if args.send:
        with Store(settings.db) as store:
            run_id = store.start_run("rescore", "cli")
        info = prepare_digest(settings, rules, run_id, force=True)
        sent = send_pending(settings)
        with Store(settings.db) as store:
            store.finish_run(run_id, "succeeded", {**counts, "digest": info and info["id"]})
        for s in sent:
            print(f"digest {s['id']}: {s['status']} {s.get('detail') or s.get('error')}")
    return 0


def cmd_digest(args) -> int:
    from .pipeline import prepare_digest, send_pending

    settings = _settings(args)
    if args.resend:
        sent = send_pending(settings, only=args.resend, resend=True)
        for s in sent:
            print(f"digest {s['id']}: {s['status']} {s.get('detail') or s.get('error')}")
        return 0 if all(s["status"] == "sent" for s in sent) else 3
    if args.send_pending:
        sent = send_pending(settings)
        print(f"{len(sent)} pending digest(s) processed")
        for s in sent:
            print(f"  {s['id']}: {s['status']} {s.get('detail') or s.get('error')}")
        return 0 if all(s["status"] == "sent" for s in sent) else 3
    info = prepare_digest(settings, _rules(settings), None, force=True, record=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "digest.html").write_text(info["html"].replace("cid:evidence-map", "evidence-map.png"), encoding="utf-8")
    (out / "digest.txt").write_text(info["text"], encoding="utf-8")
    (out / "evidence-map.png").write_bytes(info["chart"])
    (out / "digest.eml").write_bytes(info["eml"])
    print(f"preview (not sent, not recorded): {info['subject']}")
    for name in ("digest.html", "digest.txt", "evidence-map.png", "digest.eml"):
        print(f"  {out / name}")
    return 0


def cmd_review(args) -> int:
    from .store import Store, coerce_override

    settings = _settings(args)
    pmid = args.pmid
    with Store(settings.db) as store:
        if store.article_meta(pmid) is None:
            raise InputError(f"PMID {pmid} is not in {settings.db}")
        changes = []
        for item in args.set or []:
            if "=" not in item:
                raise InputError(f"--set {item!r}: use field=value, e.g. --set n_enrolled=120")
            field, raw = item.split("=", 1)
            changes.append((field.strip(), coerce_override(field.strip(), raw.strip())))
        if args.exclude:
            changes.append(("excluded", True))
        if args.include:
            changes.append(("excluded", False))
        if (changes or args.clear) and not args.by:
            raise InputError("say who is correcting: --by NAME")
        for field, value in changes:
            row = store.add_override(pmid, field, value, args.by, args.note or "")
            print(f"PMID {pmid}: {field} {json.loads(row['old_json'])!r} -> {value!r} (by {args.by})")
        for field in args.clear or []:
            ok = store.clear_override(pmid, field, args.by, args.note or "")
            print(f"PMID {pmid}: override of {field} {'cleared' if ok else 'was not set'}")
        if args.show or not (changes or args.clear):
            _show_review(store, pmid)
    return 0


def _show_review(store, pmid: str) -> None:
    art = store.get_article(pmid)
    machine = store.machine_assessment(pmid)
    overrides = store.active_overrides().get(pmid, {})
    print(f"PMID {pmid} v{art.version}: {art.title}")
    print(f"  {art.journal} {art.pub_year or ''}; Entrez date {art.entrez_date}; "
          f"{'RETRACTED; ' if art.is_retracted else ''}{'excluded by reviewer' if overrides.get('excluded') else ''}")
    print(f"\n  {'field':<17} {'machine':<22} {'reviewer':<22} evidence")
    from .records import LABEL_FIELDS

    for f in LABEL_FIELDS + ("serious_harm",):
        m = getattr(machine, f, None) if machine else None
        r = overrides.get(f, "")
        ev = machine.evidence_for(f) if machine else None
        ev = (ev[:70] + "…") if ev and len(ev) > 70 else (ev or "")
        print(f"  {f:<17} {str(m):<22} {str(r) if f in overrides else '':<22} {ev}")
    if machine:
        print(f"\n  quality {machine.quality_score}: {', '.join(machine.quality_items) or '-'}")
        print(f"  limitations: {', '.join(machine.limitations) or '-'}")
        print(f"  assessor {machine.assessor_version}")
    hist = store.override_history(pmid)
    if hist:
        print("\n  audit trail")
        for h in hist:
            print(f"    {h['at']}  {h['by']}: {h['field']} {h['old']!r} -> {h['value']!r}"
                  f"{'  (cleared)' if not h['active'] and h['value'] is None else ''}  {h['note'] or ''}")


def cmd_search(args) -> int:
    from .store import Store

    settings = _settings(args)
    with Store(settings.db) as store:
        rows = store.search(args.query, limit=args.limit)
        assessed = store.assessments(include_excluded=True)
    if not rows:
        print("no matches")
    for r in rows:
        a = assessed.get(r["pmid"])
        extra = f"  [{a.design}, n={a.n_enrolled}, {a.condition}]" if a else ""
        print(f"{r['pmid']:>9}  {(r['entrez_date'] or '')[:10]}  {r['title'][:90]}{extra}")
    return 0


def cmd_replay(args) -> int:
    from .replay import ReplayServer

    with ReplayServer(Path(args.snapshot), port=args.port) as server:
        _mount_registry(server, Path(args.snapshot))
        print(f"E-utilities replay server on {server.url} (snapshot {args.snapshot}); Ctrl-C stops")
        print(f"  export LDN_EUTILS_URL={server.url}")
        try:
            import time

            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


# --------------------------------------------------------------------------- parser

def _cmd(sub, name, func, help_text, example):
    p = sub.add_parser(name, help=help_text, description=help_text,
                       epilog="example:\n  " + example, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldn-monitor",
        description="Living-evidence monitor for low-dose naltrexone: polls PubMed, judges each study's "
                    "design, and says per condition whether the 2018 verdict should change.",
        epilog=textwrap.dedent("""\
            settings come from LDN_* environment variables and an optional TOML file (--config or
            LDN_CONFIG); see README.md. Start with:  ldn-monitor demo"""),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="TOML settings file (default: $LDN_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _cmd(sub, "run", cmd_run, "Run the monitor once: poll PubMed, store, assess, verdicts, digest, send.",
             "ldn-monitor run --since 2024-01-01 --until 2024-06-30")
    p.add_argument("--since", help="start of an Entrez-date window to re-poll (YYYY-MM-DD)")
    p.add_argument("--until", help="end of the window (default today)")
    p.add_argument("--full", action="store_true", help="re-query the whole subject set and diff it")
    p.add_argument("--no-prefect", action="store_true", help="run the same stages without Prefect")
    p.add_argument("--db", help="SQLite file (default $LDN_DB or data/ldn-monitor.db)")

    p = _cmd(sub, "demo", cmd_demo, "Offline demo: replay server on 127.0.0.1 + the real flow + SQLite + .eml outbox.",
             "ldn-monitor demo")
    p.add_argument("--snapshot", default=str(PROJECT_ROOT / "data" / "snapshot"), help="snapshot folder")
    p.add_argument("--db", help="SQLite file (default $LDN_DB or data/ldn-monitor.db)")
    p.add_argument("--smtp", action="store_true", help="send via LDN_SMTP_HOST instead of the .eml outbox")
    p.add_argument("--no-prefect", action="store_true", help="run the same stages without Prefect")

    p = _cmd(sub, "status", cmd_status, "Last runs, watermark, pending digests and per-condition verdicts.",
             "ldn-monitor status --runs 5")
    p.add_argument("--runs", type=int, default=8, help="how many runs to list")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--db")

    p = _cmd(sub, "verdicts", cmd_verdicts, "Current per-condition verdicts (the rules that fired, the studies).",
             "ldn-monitor verdicts --format json")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--history", action="store_true", help="also print when each condition's status moved")
    p.add_argument("--db")

    p = _cmd(sub, "assess", cmd_assess, "Assess corpus-format JSONL records; one JSON line out per record.",
             "ldn-monitor assess --input ../shared/corpus/dev.jsonl --output /tmp/pred.jsonl")
    p.add_argument("--input", required=True)
    p.add_argument("--output", default="-", help="output JSONL (default stdout)")

    p = _cmd(sub, "evaluate", cmd_evaluate, "Score the assessor against labelled JSONL (per-field accuracy, P/R/F1, confusion).",
             "ldn-monitor evaluate --gold ../shared/corpus/dev.jsonl")
    p.add_argument("--gold", required=True)
    p.add_argument("--predictions", help="JSONL from `assess` (default: assess the gold records now)")

    p = _cmd(sub, "rescore", cmd_rescore, "Re-assess stored articles after a rules/assessor change; show which verdicts move.",
             "ldn-monitor rescore            # add --send to mail a digest of the result")
    p.add_argument("--send", action="store_true", help="also record and send a digest")
    p.add_argument("--db")

    p = _cmd(sub, "digest", cmd_digest, "Preview the next digest without sending, or re-send a recorded one.",
             "ldn-monitor digest --preview --out data/preview")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preview", action="store_true", help="render to files; nothing is recorded or sent (default)")
    g.add_argument("--resend", metavar="ID", help="re-send a recorded digest on purpose")
    g.add_argument("--send-pending", action="store_true", help="send digests still pending in the outbox")
    p.add_argument("--out", default="data/preview", help="folder for --preview files")
    p.add_argument("--db")

    p = _cmd(sub, "review", cmd_review, "Show or correct the machine's reading of a study; corrections survive re-scoring.",
             'ldn-monitor review 12345678 --set n_enrolled=120 --set design=rct_parallel --note "per full text" --by "A. Reviewer"')
    p.add_argument("pmid")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a field (repeatable; value null clears to null)")
    p.add_argument("--exclude", action="store_true", help="mark the study irrelevant/excluded")
    p.add_argument("--include", action="store_true", help="undo --exclude")
    p.add_argument("--clear", action="append", metavar="FIELD", help="drop an override, back to the machine's value")
    p.add_argument("--note", help="why (kept in the audit trail)")
    p.add_argument("--by", help="who is correcting")
    p.add_argument("--show", action="store_true", help="print machine reading, overrides and evidence side by side")
    p.add_argument("--db")

    p = _cmd(sub, "search", cmd_search, "Full-text search over stored titles and abstracts.",
             'ldn-monitor search "crossover fibromyalgia"')
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--db")

    p = _cmd(sub, "replay", cmd_replay, "Serve the offline snapshot as a local E-utilities replay server.",
             "ldn-monitor replay --port 8765   # then: LDN_EUTILS_URL=http://127.0.0.1:8765/entrez/eutils/ ldn-monitor run")
    p.add_argument("--snapshot", default=str(PROJECT_ROOT / "data" / "snapshot"))
    p.add_argument("--port", type=int, default=8765)

    _extra_commands(sub)
    return parser


def _extra_commands(sub) -> None:
    """Commands contributed by optional modules (bulk ingestion)."""
    try:
        from . import ingest
    except ImportError:
        return
    ingest.add_cli(sub, _cmd, _settings)


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except LdnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
