"""Pure: verdict report + studies → the digest (subject, HTML, text), answer first.

Both parts come from one context built here, so they carry the same content. The HTML template
autoescapes everything; links are built here and only ever point at PubMed, doi.org or
ClinicalTrials.gov.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping, Optional
from urllib.parse import quote

import jinja2

from .records import SYNTHETIC_PMID_MIN, Study
from .verdict import VerdictReport, describe, why_not

NCBI_DISCLAIMER = (
    "Abstracts and titles come from PubMed, a service of the U.S. National Library of Medicine. "
    "NLM does not endorse this digest. Some PubMed abstracts may be protected by copyright; "
    "see https://www.ncbi.nlm.nih.gov/home/about/policies/ for the terms of use."
)
CHART_CID = "evidence-map"
STATUS_WORDS = {
    "unchanged": "verdict stands",
    "review_benefit": "review: evidence of benefit",
    "review_no_benefit": "review: evidence of no benefit",
    "review_conflicting": "review: conflicting evidence",
    "review_safety": "review: safety signal",
}
RULE_WORDS = {
    "pivotal_trial": "pivotal trial", "information_size": "information size reached",
    "conflict": "conflicting trials", "pooled_evidence": "pooled evidence", "safety": "serious harm",
    "retraction": "retraction",
}
FIELD_WORDS = {
    "is_ldn": "low-dose naltrexone", "design": "design", "randomized": "randomized",
    "blinding": "blinding", "control": "control", "n_enrolled": "n", "n_analyzed": "n analysed",
    "n_studies": "studies", "duration_weeks": "duration", "condition": "condition",
    "result_direction": "result", "pooled_rcts": "pooled randomized trials", "serious_harm": "serious harm",
}


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str
    images: Mapping[str, bytes] = field(default_factory=dict)  # cid → PNG
    should_change: bool = False
    pmids: tuple[str, ...] = ()  # the new studies this digest reports


def pubmed_url(pmid: str) -> str:
    """A PubMed link for a real PMID; none for a synthetic one (it would open someone else's paper)."""
    if not re.fullmatch(r"\d{1,9}", pmid or "") or int(pmid) >= SYNTHETIC_PMID_MIN:
        return ""
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"


def doi_url(doi: Optional[str]) -> str:
    return f"https://doi.org/{quote(doi, safe='/().-_;:')}" if doi and doi.startswith("10.") else ""


def nct_url(nct: str) -> str:
    return f"https://clinicaltrials.gov/study/{nct}" if re.fullmatch(r"NCT\d{8}", nct or "") else ""


def study_url(s: Study) -> str:
    if s.source == "registry":
        return nct_url(s.pmid)
    return pubmed_url(s.pmid) or doi_url(s.doi)


def _clip(text: str, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _label(cond: str) -> str:
    return cond.replace("_", " ")


def subject_line(report: VerdictReport, new_count: int, registry_news: int = 0) -> str:
    moving = [c for c in report.conditions if c.status != "unchanged"]
    if not moving:
        noun = "study" if new_count == 1 else "studies"
        extra = f", {registry_news} registry event{'s' if registry_news != 1 else ''}" if registry_news else ""
        return f"LDN evidence: verdict unchanged ({new_count} new {noun}{extra})"
    first = moving[0]
    rules = ", ".join(RULE_WORDS.get(r, r) for r in first.rules_fired)
    more = f" and {len(moving) - 1} more condition{'s' if len(moving) > 2 else ''}" if len(moving) > 1 else ""
    return f"LDN evidence: review the verdict for {_label(first.condition)} ({rules}){more}"


def _study_view(s: Study, rules: dict, with_evidence: bool = True) -> dict:
    a = s.assessment
    ev = []
    if with_evidence:
        for e in a.evidence:
            ev.append({"field": FIELD_WORDS.get(e.field, e.field), "text": _clip(e.text, 300)})
    year = s.pub_year or (s.entrez_date or "")[:4]
    return {
        "id": s.pmid, "label": (s.pmid if s.source == "registry" else
                                f"PMID {s.pmid}" if pubmed_url(s.pmid) else f"record {s.pmid} (no PMID)"),
        "title": _clip(s.title or "[no title]", 300), "year": year, "url": study_url(s),
        "doi_url": doi_url(s.doi), "design": describe(s), "quality": a.quality_score,
        "condition": _label(a.condition or "unspecified"), "why_not": why_not(s, rules),
        "limitations": list(a.limitations), "evidence": ev, "retracted": s.retracted,
        "overridden": [FIELD_WORDS.get(f, f) for f in a.overridden],
        "direction": a.result_direction or "not stated", "source": s.source,
        "target_n": a.n_enrolled,
        "registry_results": s.source == "registry" and a.design in ("rct_parallel", "rct_crossover"),
    }


def build_context(report: VerdictReport, studies: Mapping[str, Study], new_pmids: Iterable[str],
                  moved: list[dict], rules: dict, *, generated_at: datetime,
                  window: Optional[str] = None, notes: Iterable[str] = (),
                  has_chart: bool = False, registry_signals: Iterable[dict] = (),
                  registry_upcoming: Optional[Mapping[str, list]] = None) -> dict:
    new_pmids = [p for p in new_pmids if p in studies]
    new_set = set(new_pmids)
    moving = [c for c in report.conditions if c.status != "unchanged"]
    moved_map = {m["condition"]: m for m in moved}
    cited: set[str] = set()
    moving_view = []
    for c in moving:
        pmids = list(dict.fromkeys(p for h in c.hits for p in h.pmids))
        cited.update(pmids)
        moving_view.append({
            "condition": _label(c.condition), "status": c.status, "status_words": STATUS_WORDS[c.status],
            "moved": moved_map.get(c.condition),
            "hits": [{"rule": RULE_WORDS.get(h.rule, h.rule), "reason": h.reason} for h in c.hits],
            "studies": [_study_view(studies[p], rules) for p in pmids if p in studies],
        })
    quiet = [_study_view(studies[p], rules, with_evidence=False) for p in new_pmids
             if p not in cited and studies[p].assessment.is_ldn is True]
    set_aside = [_study_view(studies[p], rules, with_evidence=False) for p in new_pmids
                 if studies[p].assessment.is_ldn is not True]
    upcoming = []
    for c in report.conditions:
        for p in c.upcoming:
            if p in studies:
                upcoming.append(_study_view(studies[p], rules, with_evidence=False))
    listed = {u["id"] for u in upcoming}  # a registered trial may already be listed as a study
    registry_trials = [dict(t, condition=_label(cond), url=nct_url(t["nct_id"]))
                       for cond, items in (registry_upcoming or {}).items() for t in items
                       if t["nct_id"] not in listed]
    signals = [dict(x, condition=_label(x.get("condition") or "unspecified"), url=nct_url(x["nct_id"]))
               for x in registry_signals]
    table = [{
        "condition": _label(c.condition), "status": STATUS_WORDS[c.status], "status_key": c.status,
        "studies": len(c.studies), "new": len([p for p in c.studies if p in new_set]),
        "rcts": c.randomized_trials, "cumulative_n": c.cumulative_n,
        "largest": c.largest_trial_n if c.largest_trial_n is not None else "–",
        "reviews": len(c.reviews),
    } for c in sorted(report.conditions, key=lambda c: (c.status == "unchanged", -c.cumulative_n, c.condition))]
    if moving:
        answer = ("Review the verdict for " + "; ".join(
            f"{_label(c.condition)} ({STATUS_WORDS[c.status].removeprefix('review: ')})" for c in moving)
            + f". The verdict stands for the other {len(report.conditions) - len(moving)} conditions.")
    else:
        answer = (f"The verdict stands for all {len(report.conditions)} conditions with LDN studies: "
                  "nothing new reaches a rule threshold.")
    return {
        "subject": subject_line(report, len(new_pmids), sum(1 for x in signals if x["kind"] != "publication_bias")),
        "answer": answer,
        "should_change": report.should_change, "generated": generated_at.strftime("%Y-%m-%d %H:%M %Z").strip(),
        "window": window, "new_count": len(new_pmids), "moving": moving_view, "moved": moved,
        "quiet": quiet, "set_aside": set_aside, "upcoming": upcoming, "table": table,
        "registry_trials": registry_trials, "signals": signals,
        "verdict_text": " ".join(str(rules.get("verdict", "")).split()), "verdict_date": report.verdict_date,
        "rules_version": report.rules_version, "notes": list(notes), "disclaimer": NCBI_DISCLAIMER,
        "chart_cid": CHART_CID if has_chart else None,
        "thresholds": {"pivotal_n": rules["pivotal"]["min_n"], "pivotal_weeks": rules["pivotal"]["min_weeks"],
                       "optimal_n": rules["information_size"]["optimal_n"]},
    }


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ldn_monitor", "templates"),
        autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def render(report: VerdictReport, studies: Mapping[str, Study], new_pmids: Iterable[str],
           moved: list[dict], rules: dict, *, generated_at: datetime, window: Optional[str] = None,
           notes: Iterable[str] = (), chart_png: Optional[bytes] = None,
           registry_signals: Iterable[dict] = (), registry_upcoming: Optional[Mapping[str, list]] = None) -> Digest:
    new_pmids = list(new_pmids)
    ctx = build_context(report, studies, new_pmids, moved, rules, generated_at=generated_at,
                        window=window, notes=notes, has_chart=chart_png is not None,
                        registry_signals=registry_signals, registry_upcoming=registry_upcoming)
    text = _env(False).get_template("digest.txt.j2").render(**ctx)
    html = _env(True).get_template("digest.html.j2").render(**ctx)
    return Digest(subject=ctx["subject"], text=text, html=html,
                  images={CHART_CID: chart_png} if chart_png else {},
                  should_change=report.should_change, pmids=tuple(p for p in new_pmids if p in studies))


def markdown_summary(digest: Digest) -> str:
    """The text part as a Prefect markdown artifact (fenced: it is already laid out)."""
    body = digest.text.replace("```", "'''")
    return f"# {digest.subject}\n\n```text\n{body}\n```\n"
