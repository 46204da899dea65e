"""Pure: one ClinicalTrials.gov v2 study → flat record → ``DesignAssessment`` (same vocabulary as PubMed).

No I/O, no clock. A registry record is read from its structured fields, not from prose, so every
evidence span cites the field it came from (``designInfo.allocation: RANDOMIZED``) instead of
indexing into an abstract (``start``/``end`` stay -1).

How registry facts become the corpus vocabulary (``records.py``):

- ``design``: ``protocol`` while the trial has no results in the registry — recruiting, active,
  completed without posted results — so the verdict lists it as upcoming evidence. With results
  posted (COMPLETED or TERMINATED and ``hasResults``) the structural design: RANDOMIZED →
  ``rct_parallel`` (``rct_crossover`` when ``interventionModel`` is CROSSOVER); NON_RANDOMIZED with a
  comparator arm → ``nonrandomized_controlled``; single group → ``single_arm``; OBSERVATIONAL →
  ``observational``; allocation not stated → ``other``.
- ``randomized`` from ``allocation``; ``blinding`` from ``masking`` (NONE → none, SINGLE → single,
  DOUBLE → double, TRIPLE/QUADRUPLE → triple, the highest category); ``control`` from arm types
  (PLACEBO_COMPARATOR or SHAM_COMPARATOR → placebo, ACTIVE_COMPARATOR → active, NO_INTERVENTION →
  usual_care; an OTHER arm whose label or interventions say placebo → placebo; otherwise none for a
  single group or all-experimental arms, None when a controlled design lists only one arm).
- ``n_enrolled`` is the enrollment count; an ESTIMATED count is a target, not a fact, and says so in
  ``limitations``.
- ``is_ldn`` from the naltrexone interventions' names and descriptions: "ultra-low" → False (the
  microgram opioid add-on, not LDN); a dose of 0.5–6.5 mg → True; a smaller dose called "very low"
  or "low dose" → True; "low dose" / "LDN" without a dose → True; only doses above 6.5 mg → False;
  naltrexone without a dose → None; no naltrexone at all → False.
- ``result_direction`` is always None: registry results are numbers, not a conclusion. So a registry
  result never fires a pivotal rule alone, but a completed randomized trial with results posted
  counts toward the cumulative randomized n like a publication (``limitations`` marks it
  "registry results").
- ``condition`` is normalized by the PubMed assessor (``assess.assess_text``) run over the registry's
  conditions list, then its titles, so names match those of PubMed studies; without the assessor a
  snake_case form of the first listed condition.
"""
from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Optional

from .records import DesignAssessment, Evidence

REGISTRY_ASSESSOR_VERSION = "registry-2026.11.25-1"

RESULT_STATUSES = ("COMPLETED", "TERMINATED")  # with hasResults: the registry holds results
ONGOING_STATUSES = ("NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING")
DEAD_STATUSES = ("WITHDRAWN",)  # never enrolled anyone: no evidence, ever
MASKING = {"NONE": "none", "SINGLE": "single", "DOUBLE": "double", "TRIPLE": "triple", "QUADRUPLE": "triple"}
COMPARATOR_ARMS = {"PLACEBO_COMPARATOR": "placebo", "SHAM_COMPARATOR": "placebo",
                   "ACTIVE_COMPARATOR": "active", "NO_INTERVENTION": "usual_care"}
_CONTROL_ORDER = ("placebo", "active", "usual_care")  # a placebo arm is the comparison that counts most
STATUS_WORDS = {
    "NOT_YET_RECRUITING": "not yet recruiting", "RECRUITING": "recruiting",
    "ENROLLING_BY_INVITATION": "enrolling by invitation", "ACTIVE_NOT_RECRUITING": "active, not recruiting",
    "COMPLETED": "completed", "TERMINATED": "terminated", "SUSPENDED": "suspended",
    "WITHDRAWN": "withdrawn", "UNKNOWN": "status unknown", "AVAILABLE": "available",
    "NO_LONGER_AVAILABLE": "no longer available", "TEMPORARILY_NOT_AVAILABLE": "temporarily not available",
    "APPROVED_FOR_MARKETING": "approved for marketing", "WITHHELD": "withheld",
}

_NALTREXONE_RE = re.compile(r"naltrexon|\bLDN\b", re.I)
_ULTRA_LOW_RE = re.compile(r"\bultra[- ]?low\b", re.I)
_LOW_DOSE_RE = re.compile(r"\b(?:very[- ])?low[- ]dos(?:e|age|ed)\b|\bLDN\b", re.I)
_VERY_LOW_RE = re.compile(r"\bvery[- ]low\b", re.I)
_DOSE_RE = re.compile(
    r"(?<![\d.])(\d+(?:[.,]\d+)?)\s*(mg|milligrams?|mcg|µg|μg|ug|micrograms?)\b(?!\s*/\s*kg)", re.I)
_PLACEBO_RE = re.compile(r"\bplacebo|\bsham\b|\bdummy\b", re.I)
_TIME_RE = re.compile(
    r"(?:\b(week|wk|month|day|year)s?\s*(\d+(?:\.\d+)?)\b)|(?:\b(\d+(?:\.\d+)?)[- ]?(weeks?|wks?|months?|days?|years?)\b)",
    re.I)
_NCT_RE = re.compile(r"\bNCT\d{8}\b", re.I)
LDN_MAX_MG = 6.5  # LDN is ≈0.5–6 mg/day (corpus README); 6.5 leaves room for "6 mg" rounding
LDN_MIN_MG = 0.5


# --------------------------------------------------------------------------- small helpers

def _get(d, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def _list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def date_floor(value: Optional[str]) -> Optional[str]:
    """``2023``, ``2023-05`` or ``2023-05-17`` → the first day it can mean, as ``YYYY-MM-DD``."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", (value or "").strip())
    if not m:
        return None
    return f"{int(m.group(1)):04d}-{int(m.group(2) or 1):02d}-{int(m.group(3) or 1):02d}"


def date_ceil(value: Optional[str]) -> Optional[str]:
    """The last day a partial date can mean (``2023-05`` → ``2023-05-31``): never fire a signal early."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", (value or "").strip())
    if not m:
        return None
    y = int(m.group(1))
    mo = int(m.group(2) or 12)
    d = int(m.group(3) or calendar.monthrange(y, mo)[1])
    return f"{y:04d}-{mo:02d}-{d:02d}"


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def snake(text: str) -> str:
    text = re.sub(r"['’`]", "", text or "").lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


# --------------------------------------------------------------------------- the flat record

def registry_record(study: dict) -> dict:
    """The fields ldn-monitor uses from one v2 study, flat (lists stay lists). Missing → None / []."""
    ps = study.get("protocolSection") or {}
    ident = ps.get("identificationModule") or {}
    status = ps.get("statusModule") or {}
    design = ps.get("designModule") or {}
    info = design.get("designInfo") or {}
    arms = ps.get("armsInterventionsModule") or {}
    refs = _list(_get(ps, "referencesModule", "references"))
    arm_groups = [{
        "label": a.get("label") or "", "type": a.get("type"), "description": a.get("description") or "",
        "intervention_names": _list(a.get("interventionNames")),
    } for a in _list(arms.get("armGroups")) if isinstance(a, dict)]
    interventions = [{
        "type": i.get("type"), "name": i.get("name") or "", "description": i.get("description") or "",
        "other_names": _list(i.get("otherNames")),
    } for i in _list(arms.get("interventions")) if isinstance(i, dict)]

    def day(struct: str) -> Optional[str]:
        return _get(status, struct, "date")

    return {
        "nct_id": ident.get("nctId"),
        "brief_title": ident.get("briefTitle") or "",
        "official_title": ident.get("officialTitle") or "",
        "title": ident.get("officialTitle") or ident.get("briefTitle") or "",
        "acronym": ident.get("acronym"),
        "overall_status": status.get("overallStatus"),
        "why_stopped": status.get("whyStopped"),
        "study_type": design.get("studyType"),
        "phases": _list(design.get("phases")),
        "allocation": info.get("allocation"),
        "intervention_model": info.get("interventionModel"),
        "masking": _get(info, "maskingInfo", "masking"),
        "who_masked": _list(_get(info, "maskingInfo", "whoMasked")),
        "arm_groups": arm_groups,
        "arm_types": [a["type"] for a in arm_groups if a["type"]],
        "interventions": interventions,
        "enrollment_count": _get(design, "enrollmentInfo", "count"),
        "enrollment_type": _get(design, "enrollmentInfo", "type"),
        "conditions": _list(_get(ps, "conditionsModule", "conditions")),
        "keywords": _list(_get(ps, "conditionsModule", "keywords")),
        "start_date": day("startDateStruct"),
        "primary_completion_date": day("primaryCompletionDateStruct"),
        "primary_completion_date_type": _get(status, "primaryCompletionDateStruct", "type"),
        "completion_date": day("completionDateStruct"),
        "completion_date_type": _get(status, "completionDateStruct", "type"),
        "first_post_date": day("studyFirstPostDateStruct"),
        "last_update_post_date": day("lastUpdatePostDateStruct"),
        "results_first_post_date": day("resultsFirstPostDateStruct"),
        "has_results": bool(study.get("hasResults")),
        # The registry's own links to papers: RESULT references report this trial's results.
        "result_pmids": [str(r["pmid"]) for r in refs if isinstance(r, dict) and r.get("pmid")
                         and r.get("type") in ("RESULT", "DERIVED")],
        "reference_pmids": [str(r["pmid"]) for r in refs if isinstance(r, dict) and r.get("pmid")],
        "brief_summary": _get(ps, "descriptionModule", "briefSummary") or "",
        "primary_time_frames": [o.get("timeFrame") or "" for o in
                                _list(_get(ps, "outcomesModule", "primaryOutcomes")) if isinstance(o, dict)],
    }


def has_registry_results(record: dict) -> bool:
    """Results are on the registry: completed (or terminated) and ``hasResults``."""
    return bool(record.get("has_results")) and record.get("overall_status") in RESULT_STATUSES


def enrollment_text(record: dict) -> Optional[str]:
    n, kind = record.get("enrollment_count"), record.get("enrollment_type")
    if n is None:
        return None
    return f"{n} {kind}" if kind else str(n)


# --------------------------------------------------------------------------- field decisions

def _ldn_texts(record: dict) -> list[tuple[str, str]]:
    """(registry field, text) pairs that speak about naltrexone."""
    out = []
    for i, iv in enumerate(record.get("interventions") or []):
        name = " / ".join([iv["name"], *iv["other_names"]])
        if _NALTREXONE_RE.search(name) or _NALTREXONE_RE.search(iv["description"]):
            out.append((f"interventions[{i}].name", name))
            if iv["description"]:
                out.append((f"interventions[{i}].description", iv["description"]))
    for i, arm in enumerate(record.get("arm_groups") or []):
        text = " ".join(x for x in (arm["label"], arm["description"], *arm["intervention_names"]) if x)
        if _NALTREXONE_RE.search(text):
            out.append((f"armGroups[{i}]", text))
    return out


def _doses_mg(text: str) -> list[float]:
    out = []
    for m in _DOSE_RE.finditer(text):
        v = float(m.group(1).replace(",", "."))
        unit = m.group(2).lower()
        out.append(v if unit.startswith("m") and unit not in ("mcg", "microgram", "micrograms") else v / 1000.0)
    return out


def _clip(text: str, n: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def decide_ldn(record: dict) -> tuple[Optional[bool], Optional[str]]:
    """(is_ldn, evidence text). See the module docstring for the rule order."""
    texts = _ldn_texts(record)
    if not texts:
        # No naltrexone intervention: the query matched something else ("LDN" can be another code).
        title = record.get("title") or record.get("brief_title") or ""
        if _NALTREXONE_RE.search(title) and _LOW_DOSE_RE.search(title):
            return True, f"identificationModule.officialTitle: {_clip(title)}"
        return False, "armsInterventionsModule.interventions: no naltrexone intervention"
    for field, text in texts:
        if _ULTRA_LOW_RE.search(text):
            return False, f"{field}: {_clip(text)}"
    verdict: Optional[bool] = None
    evidence = None
    high = None
    for field, text in texts:
        doses = _doses_mg(text)
        if any(LDN_MIN_MG <= d <= LDN_MAX_MG for d in doses):
            return True, f"{field}: {_clip(text)}"
        if any(0 < d < LDN_MIN_MG for d in doses) and (_VERY_LOW_RE.search(text) or _LOW_DOSE_RE.search(text)):
            return True, f"{field}: {_clip(text)}"
        if _LOW_DOSE_RE.search(text) and verdict is None:
            verdict, evidence = True, f"{field}: {_clip(text)}"
        if doses and all(d > LDN_MAX_MG for d in doses) and high is None:
            high = f"{field}: {_clip(text)}"
    if verdict:
        return True, evidence
    if high:
        return False, high
    return None, None


def structural_design(record: dict) -> tuple[str, str]:
    """(design as it would be with results, the registry fields that say so)."""
    stype = record.get("study_type")
    alloc = record.get("allocation")
    model = record.get("intervention_model")
    if stype == "OBSERVATIONAL":
        return "observational", "designModule.studyType: OBSERVATIONAL"
    if stype == "EXPANDED_ACCESS":
        return "other", "designModule.studyType: EXPANDED_ACCESS"
    cite = "; ".join(x for x in (f"designInfo.allocation: {alloc}" if alloc else "",
                                 f"designInfo.interventionModel: {model}" if model else "") if x)
    has_comparator = any(t in COMPARATOR_ARMS for t in record.get("arm_types") or []) or _placebo_arm(record)[0]
    if alloc == "RANDOMIZED":
        return ("rct_crossover" if model == "CROSSOVER" else "rct_parallel"), cite
    if alloc == "NON_RANDOMIZED":
        return ("nonrandomized_controlled" if has_comparator else "single_arm"), cite
    if alloc == "NA" or model == "SINGLE_GROUP":
        return "single_arm", cite or "designInfo.allocation: NA"
    return "other", cite or "designInfo.allocation: not stated"


def _placebo_arm(record: dict) -> tuple[bool, Optional[str]]:
    """An arm typed OTHER (or untyped) whose label or interventions say placebo/sham."""
    for i, arm in enumerate(record.get("arm_groups") or []):
        if arm["type"] in (None, "OTHER"):
            text = " ".join([arm["label"], *arm["intervention_names"]])
            if _PLACEBO_RE.search(text):
                return True, f"armGroups[{i}].label: {_clip(arm['label'], 80)} (type {arm['type'] or 'not stated'})"
    return False, None


def decide_control(record: dict, design: str) -> tuple[Optional[str], Optional[str]]:
    found: dict[str, str] = {}
    for i, arm in enumerate(record.get("arm_groups") or []):
        ctl = COMPARATOR_ARMS.get(arm["type"] or "")
        if ctl and ctl not in found:
            found[ctl] = f"armGroups[{i}].type: {arm['type']} ({_clip(arm['label'], 80)})"
    for ctl in _CONTROL_ORDER:
        if ctl in found:
            return ctl, found[ctl]
    ok, cite = _placebo_arm(record)
    if ok:
        return "placebo", cite
    # No comparator arm: "none" for a single group (or several arms that are all experimental, e.g.
    # two doses); a randomized trial listing just one arm has simply not said what it compares with.
    arms = record.get("arm_groups") or []
    if design in ("single_arm", "observational") or len(arms) >= 2:
        types = ", ".join(record.get("arm_types") or []) or "none"
        return "none", f"armGroups[].type: {types}"
    return None, None


def decide_duration(record: dict) -> tuple[Optional[float], Optional[str]]:
    """Longest primary-outcome time frame in weeks: the follow-up the trial is built around."""
    best, cite = None, None
    for i, frame in enumerate(record.get("primary_time_frames") or []):
        for m in _TIME_RE.finditer(frame or ""):
            unit = (m.group(1) or m.group(4) or "").lower()
            value = float(m.group(2) or m.group(3))
            weeks = (value if unit.startswith("w") else value * 4.33 if unit.startswith("m")
                     else value / 7.0 if unit.startswith("d") else value * 52.0)
            if best is None or weeks > best:
                best, cite = round(weeks, 1), f"outcomesModule.primaryOutcomes[{i}].timeFrame: {_clip(frame, 120)}"
    return best, cite


def normalize_condition(record: dict) -> tuple[Optional[str], Optional[str]]:
    """(condition, evidence): the PubMed assessor's name for it, so registry and PubMed studies group."""
    candidates = []
    if record.get("conditions"):
        candidates.append(("conditionsModule.conditions", "; ".join(record["conditions"])))
    for key, field in (("official_title", "identificationModule.officialTitle"),
                       ("brief_title", "identificationModule.briefTitle")):
        if record.get(key):
            candidates.append((field, record[key]))
    try:
        from .assess import assess_text
    except ImportError:  # the assessor ships separately; a plain name still groups registry trials
        assess_text = None
    if assess_text is not None:
        for field, text in candidates:
            cond = assess_text(text, "").condition
            if cond:
                return cond, f"{field}: {_clip(text, 120)}"
    if record.get("conditions"):
        first = record["conditions"][0]
        return snake(first) or None, f"conditionsModule.conditions: {_clip(first, 120)}"
    return None, None


# --------------------------------------------------------------------------- the assessment

def assess_registry(record: dict) -> DesignAssessment:
    """A ``DesignAssessment`` for one flat registry record (``pmid`` = the NCT id)."""
    ev: list[Evidence] = []

    def put(name: str, value, cite: Optional[str]):
        if value is not None and cite:
            ev.append(Evidence(name, cite))
        return value

    status = record.get("overall_status")
    results = has_registry_results(record)
    is_ldn = put("is_ldn", *decide_ldn(record))
    structural, design_cite = structural_design(record)
    status_cite = f"statusModule.overallStatus: {status}; hasResults: {str(bool(record.get('has_results'))).lower()}"
    design = structural if results else "protocol"
    put("design", design, f"{design_cite}; {status_cite}" if design_cite else status_cite)

    alloc = record.get("allocation")
    randomized = {"RANDOMIZED": True, "NON_RANDOMIZED": False, "NA": False}.get(alloc or "")
    rand_cite = f"designInfo.allocation: {alloc}" if alloc else None
    if randomized is None and structural in ("single_arm", "observational"):
        randomized, rand_cite = False, design_cite  # corpus convention: no comparison group → not randomized
    put("randomized", randomized, rand_cite)

    masking = record.get("masking")
    blinding = MASKING.get(masking or "")
    blind_cite = f"designInfo.maskingInfo.masking: {masking}" if masking else None
    if blinding is None and structural == "observational":
        blinding, blind_cite = "none", design_cite
    put("blinding", blinding, blind_cite)

    control = put("control", *decide_control(record, structural))
    n = record.get("enrollment_count")
    n = int(n) if isinstance(n, (int, float)) or (isinstance(n, str) and n.isdigit()) else None
    put("n_enrolled", n, f"designModule.enrollmentInfo: {enrollment_text(record)}" if n is not None else None)
    duration = put("duration_weeks", *decide_duration(record))
    condition = put("condition", *normalize_condition(record))

    items: list[str] = []
    if randomized is True:
        items.append("randomized (+1)")
    if blinding in ("double", "triple"):
        items.append(f"{blinding}-blind (+1)")
    if control == "placebo":
        items.append("placebo-controlled (+1)")
    elif control in ("active", "usual_care"):
        items.append(f"{control.replace('_', ' ')} control (+1)")
    if n is not None and n >= 100:
        items.append("n ≥ 100 (+1)")
    if duration is not None and duration >= 12:
        items.append("≥ 12 weeks (+1)")

    lim: list[str] = []
    words = STATUS_WORDS.get(status or "", (status or "status not stated").lower())
    if results:
        lim.append("registry results: numbers posted on ClinicalTrials.gov, no conclusion drawn")
    elif status == "COMPLETED":
        lim.append("registered trial, completed, no results posted")
    else:
        lim.append(f"registered trial ({words}), no results yet")
    if status == "TERMINATED":
        lim.append("terminated early" + (f": {_clip(record['why_stopped'], 100)}" if record.get("why_stopped") else ""))
    if status == "UNKNOWN":
        lim.append("status unknown (not verified by the sponsor for over two years)")
    if record.get("enrollment_type") == "ESTIMATED" and n is not None:
        lim.append("enrollment is a target (ESTIMATED)")
    if structural not in ("other",):
        if blinding == "none":
            lim.append("open-label")
        elif blinding == "single":
            lim.append("single-blind")
        elif blinding is None and structural in ("rct_parallel", "rct_crossover", "nonrandomized_controlled"):
            lim.append("masking not stated")
        if control == "none":
            lim.append("no control group")
        if structural == "nonrandomized_controlled":
            lim.append("not randomized")
    else:
        lim.append("allocation not stated in the registry")
    if n is not None and n < 100:
        lim.append(f"n = {n}")
    elif n is None:
        lim.append("sample size not stated")
    if is_ldn is False:
        lim.append("not low-dose naltrexone")
    elif is_ldn is None:
        lim.append("naltrexone dose not stated")

    return DesignAssessment(
        pmid=record.get("nct_id"), is_ldn=is_ldn, design=design, randomized=randomized, blinding=blinding,
        control=control, n_enrolled=n, n_analyzed=None, n_studies=None, duration_weeks=duration,
        condition=condition, result_direction=None, serious_harm=False, evidence=tuple(ev),
        quality_score=len(items), quality_items=tuple(items), limitations=tuple(dict.fromkeys(lim)),
        assessor_version=REGISTRY_ASSESSOR_VERSION,
    )


def nct_ids_in(text: str) -> list[str]:
    """NCT ids mentioned in free text, upper-cased, in order, once each."""
    return list(dict.fromkeys(m.group(0).upper() for m in _NCT_RE.finditer(text or "")))
