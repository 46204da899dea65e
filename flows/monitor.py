"""Prefect flows: ``ldn-monitor`` (the scheduled weekly poll) and ``ldn-rerun`` (manual re-runs).

Thin by design: each stage of ``ldn_monitor.pipeline.run_monitor`` becomes a Prefect task so the UI
shows where a run spent its time and where it failed. Retries: HTTP retries live in the PubMed
client only (a second layer here would multiply requests against NCBI's rate limit); the send
task may retry because the outbox is checked before every send.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Optional

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ldn_monitor import pipeline
from ldn_monitor.digest import markdown_summary, Digest
from ldn_monitor.errors import SettingsError
from ldn_monitor.settings import SECRET_FIELDS, Settings, load_rules, load_settings

_RETRIES = {"send": 2}
TASKS = {
    name: task(fn, name=f"ldn-{name}", cache_policy=NO_CACHE, retries=_RETRIES.get(name, 0),
               retry_delay_seconds=5)
    for name, fn in {
        "start": pipeline.start, "poll": pipeline.poll, "registry": pipeline.poll_registry,
        "digest": pipeline.prepare_digest, "send": pipeline.send_pending, "finish": pipeline.finish,
        "rescore": pipeline.rescore,
    }.items()
}


def _stage(name, fn, *args, **kwargs):
    return TASKS[name](*args, **kwargs)


def _publish(counts: dict) -> None:
    info = counts.get("digest_info")
    if not info:
        return
    md = markdown_summary(Digest(subject=info["subject"], text=info["text"], html=info["html"]))
    create_markdown_artifact(key="ldn-digest", markdown=md, description=info["subject"])
    png = base64.b64encode(info["chart"]).decode()
    create_markdown_artifact(key="ldn-evidence-map", markdown=f"![evidence map](data:image/png;base64,{png})",
                             description="Cumulative randomized n of LDN trials per condition")


def settings_for_run(overrides: Optional[dict] = None, config: Optional[str] = None) -> Settings:
    """Settings at the flow's entry point: env (+ TOML), then non-secret per-run overrides.

    Flow parameters are stored by Prefect, so secrets never travel as parameters: they come
    from the environment, or from Prefect Secret blocks named by LDN_SMTP_PASSWORD_BLOCK /
    LDN_NCBI_API_KEY_BLOCK.
    """
    s = load_settings(config=config)
    overrides = dict(overrides or {})
    bad = set(overrides) & set(SECRET_FIELDS)
    if bad:
        raise SettingsError(f"{', '.join(sorted(bad))} cannot be a flow parameter; set it in the environment "
                            "or a Prefect Secret block")
    if overrides:
        s = s.replace(**{k: (Path(v) if k in ("db", "outbox", "rules") and v is not None
                             else tuple(v) if isinstance(v, list) else v)
                         for k, v in overrides.items()})
    for field in SECRET_FIELDS:
        block = os.environ.get(f"LDN_{field.upper()}_BLOCK")
        if block and not getattr(s, field):
            from prefect.blocks.system import Secret

            s = s.replace(**{field: Secret.load(block).get()})
    return s


@flow(name="ldn-monitor", log_prints=True)
def monitor(since: Optional[str] = None, until: Optional[str] = None, full: bool = False,
            trigger: str = "schedule", overrides: Optional[dict] = None, config: Optional[str] = None) -> dict:
    """Poll PubMed (and ClinicalTrials.gov), store, assess, decide verdicts, email the digest.

    ``overrides``: non-secret settings for this run only, e.g. {"db": "/tmp/x.db"}.
    """
    s = settings_for_run(overrides, config)
    counts = pipeline.run_monitor(s, load_rules(s.rules), since=since, until=until, full=full, trigger=trigger,
                                  stage=_stage, flow_run_id=str(runtime.flow_run.id or ""))
    _publish(counts)
    get_run_logger().info("run %s %s: %s", counts["run_id"], counts["status"],
                          {k: v for k, v in counts.items() if k not in ("digest_info", "registry")})
    counts.pop("digest_info", None)
    return counts


@flow(name="ldn-rerun", log_prints=True)
def rerun(since: Optional[str] = None, until: Optional[str] = None, full: bool = False, rescore: bool = False,
          resend: Optional[str] = None, overrides: Optional[dict] = None, config: Optional[str] = None) -> dict:
    """Manual re-run: a date window, a full re-query, a re-score, or a re-send of a recorded digest."""
    s = settings_for_run(overrides, config)
    out: dict = {}
    if rescore:
        out["rescore"] = TASKS["rescore"](s)
    if resend:
        out["resend"] = TASKS["send"](s, only=resend, resend=True)
    if since or until or full or not (rescore or resend):
        out["run"] = monitor(since=since, until=until, full=full, trigger="deployment", overrides=overrides,
                             config=config)
    return out
