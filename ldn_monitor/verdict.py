"""Pure: assessed studies → per-condition verdict status, the rules that fired, and why.

The question is always relative to the standing verdict (``rules.verdict_date``): studies on or
after that date are *new evidence*; earlier ones are the baseline it already weighed. A status
other than ``unchanged`` means "the bottom line for this condition should be reviewed", and the
rule entries say which signal fired on the strength of which studies (Shojania et al., 2007).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from .records import RCT_DESIGNS, Study

STATUSES = ("unchanged", "review_benefit", "review_no_benefit", "review_conflicting", "review_safety")
# When several rules fire for one condition, the more urgent status wins.
_PRECEDENCE = {"review_safety": 4, "review_conflicting": 3, "review_benefit": 2,
               "review_no_benefit": 2, "unchanged": 0}
_NEGATIVE = ("null", "unfavorable")
UPCOMING_DESIGNS = ("protocol",)


@dataclass(frozen=True)
class RuleHit:
    rule: str  # pivotal_trial | information_size | conflict | pooled_evidence | safety | retraction
    status: str
    reason: str
    pmids: tuple[str, ...]


@dataclass(frozen=True)
class ConditionVerdict:
    condition: str
    status: str
    hits: tuple[RuleHit, ...]
    studies: tuple[str, ...]  # every LDN study for the condition, oldest first
    new_studies: tuple[str, ...]  # those on/after the verdict date
    controlled_trials: int
    randomized_trials: int
    cumulative_n: int  # randomized, controlled LDN trials
    largest_trial_n: Optional[int]
    largest_trial_pmid: Optional[str]
    directions: dict
    reviews: tuple[str, ...]
    upcoming: tuple[str, ...]  # protocols (and registered trials) without results
    safety_reports: tuple[str, ...]

    @property
    def rules_fired(self) -> list[str]:
        return list(dict.fromkeys(h.rule for h in self.hits))

    def to_dict(self) -> dict:
        return {
            "condition": self.condition, "status": self.status, "rules_fired": self.rules_fired,
            "reasons": [{"rule": h.rule, "status": h.status, "reason": h.reason, "studies": list(h.pmids)}
                        for h in self.hits],
            "studies": list(self.studies), "new_studies": list(self.new_studies),
            "controlled_trials": self.controlled_trials, "randomized_trials": self.randomized_trials,
            "cumulative_n": self.cumulative_n, "largest_trial_n": self.largest_trial_n,
            "largest_trial_pmid": self.largest_trial_pmid, "directions": dict(self.directions),
            "reviews": list(self.reviews), "upcoming": list(self.upcoming),
            "safety_reports": list(self.safety_reports),
        }


@dataclass(frozen=True)
class VerdictReport:
    conditions: tuple[ConditionVerdict, ...]
    rules_version: str
    verdict_date: str
    not_ldn: tuple[str, ...] = ()  # studies set aside: not low-dose naltrexone (or undecidable)

    @property
    def should_change(self) -> bool:
        return any(c.status != "unchanged" for c in self.conditions)

    def get(self, condition: str) -> Optional[ConditionVerdict]:
        for c in self.conditions:
            if c.condition == condition:
                return c
        return None

    def to_dict(self) -> dict:
        return {"should_change": self.should_change, "rules_version": self.rules_version,
                "verdict_date": self.verdict_date,
                "conditions": [c.to_dict() for c in self.conditions]}


# --------------------------------------------------------------------------- helpers

def study_date(s: Study) -> str:
    """Best date we have, ISO (YYYY-MM-DD) so strings compare: Entrez date, else Jan 1 of pub year."""
    if s.entrez_date:
        return s.entrez_date.replace("/", "-")
    if s.pub_year:
        return f"{s.pub_year:04d}-01-01"
    return "0000-01-01"


def is_new(s: Study, rules: dict) -> bool:
    return study_date(s) >= str(rules["verdict_date"])


def is_controlled_trial(s: Study) -> bool:
    a = s.assessment
    return a.design in RCT_DESIGNS + ("nonrandomized_controlled",) and a.control not in (None, "none")


def is_rct(s: Study) -> bool:
    a = s.assessment
    return a.design in RCT_DESIGNS and a.randomized is not False and a.control not in (None, "none")


def _direction(d: Optional[str]) -> Optional[str]:
    if d == "favorable":
        return "favorable"
    if d in _NEGATIVE:
        return "negative"
    return None


def _status_for(direction: Optional[str]) -> Optional[str]:
    return {"favorable": "review_benefit", "null": "review_no_benefit",
            "unfavorable": "review_no_benefit", "mixed": "review_conflicting"}.get(direction or "")


def describe(s: Study) -> str:
    """Short design summary: 'rct_parallel, double-blind, placebo, n = 120, 24 weeks'."""
    a = s.assessment
    bits = [a.design.replace("_", " ")]
    if a.blinding and a.blinding != "none":
        bits.append(f"{a.blinding}-blind")
    elif a.blinding == "none" and a.design not in ("systematic_review", "meta_analysis", "narrative_review"):
        bits.append("open-label")
    if a.control and a.control != "none":
        bits.append(f"{a.control.replace('_', ' ')}-controlled")
    if a.n_enrolled is not None:
        bits.append(f"n = {a.n_enrolled}")
    if a.n_studies is not None:
        bits.append(f"{a.n_studies} studies")
    if a.duration_weeks is not None:
        bits.append(f"{a.duration_weeks:g} weeks")
    return ", ".join(bits)


def pivotal_gaps(s: Study, rules: dict) -> list[str]:
    """What keeps a study from being a pivotal trial, in plain words (empty = it is one)."""
    a, p = s.assessment, rules["pivotal"]
    gaps = []
    if a.is_ldn is not True:
        gaps.append("not low-dose naltrexone" if a.is_ldn is False else "dose unclear")
    if a.design == "protocol":
        return gaps + ["protocol, no results yet"]
    if a.design == "narrative_review":
        return gaps + ["narrative review, no pooled result"]
    if a.design in ("systematic_review", "meta_analysis"):
        return gaps + review_gaps(s, rules)
    if a.design not in RCT_DESIGNS or a.randomized is False:
        gaps.append("not randomized" if a.design in ("nonrandomized_controlled",) else a.design.replace("_", " "))
    if a.blinding not in p["blinding"]:
        gaps.append("open-label" if a.blinding == "none" else
                    ("blinding not stated" if a.blinding is None else f"only {a.blinding}-blind"))
    if a.control not in p["controls"]:
        gaps.append("no control group" if a.control in (None, "none") else f"{a.control.replace('_', ' ')} control")
    if a.n_enrolled is None:
        gaps.append("sample size not stated")
    elif a.n_enrolled < p["min_n"]:
        gaps.append(f"n = {a.n_enrolled} (< {p['min_n']})")
    if a.duration_weeks is None:
        gaps.append("duration not stated")
    elif a.duration_weeks < p["min_weeks"]:
        gaps.append(f"{a.duration_weeks:g} weeks of treatment (< {p['min_weeks']})")
    if a.result_direction in (None, "not_applicable"):
        gaps.append("no primary result stated")
    return gaps


def review_gaps(s: Study, rules: dict) -> list[str]:
    """What keeps a review from counting as pooled evidence, in plain words."""
    a, pr = s.assessment, rules["pooled"]
    gaps = [a.design.replace("_", " ")]
    if a.pooled_rcts is False:
        gaps.append("pooled non-randomized studies")
    elif a.pooled_rcts is None and (a.n_enrolled or 0) < pr["min_participants"]:
        gaps.append("does not say it pooled randomized trials"
                    + (f"; n = {a.n_enrolled} (< {pr['min_participants']})" if a.n_enrolled else ""))
    elif (a.n_studies or 0) < pr["min_trials"] and (a.n_enrolled or 0) < pr["min_participants"]:
        gaps.append(f"{a.n_studies or 'number not stated'} trials (< {pr['min_trials']}), "
                    f"{'n = ' + str(a.n_enrolled) if a.n_enrolled else 'participants not stated'} "
                    f"(< {pr['min_participants']})")
    if a.result_direction in (None, "not_applicable"):
        gaps.append("no conclusion stated")
    return gaps


def why_not(s: Study, rules: dict) -> str:
    """Why one study does not move the verdict, for the digest ('open-label, n = 12, 8 weeks')."""
    gaps = pivotal_gaps(s, rules)
    if not is_new(s, rules):
        gaps.insert(0, f"before the verdict of {rules['verdict_date'][:4]} (already weighed)")
    return "; ".join(dict.fromkeys(gaps)) or "counted with the rest of the evidence; no rule threshold reached"


def _adequate_for_conflict(s: Study, rules: dict) -> bool:
    a, c = s.assessment, rules["conflict"]
    return (is_rct(s) and a.blinding in c["blinding"] and a.control in c["controls"]
            and (a.n_enrolled or 0) >= c["min_n"] and _direction(a.result_direction) is not None)


# --------------------------------------------------------------------------- the engine

def evaluate(studies: Iterable[Study], rules: dict) -> VerdictReport:
    """Group LDN studies by condition and decide each condition's status."""
    by_condition: dict[str, list[Study]] = {}
    not_ldn = []
    for s in studies:
        if s.assessment.is_ldn is not True:
            not_ldn.append(s.pmid)
            continue
        by_condition.setdefault(s.assessment.condition or "unspecified", []).append(s)
    verdicts = [_condition_verdict(cond, sorted(items, key=lambda s: (study_date(s), s.pmid)), rules)
                for cond, items in sorted(by_condition.items())]
    return VerdictReport(conditions=tuple(verdicts), rules_version=str(rules.get("version", "")),
                         verdict_date=str(rules["verdict_date"]), not_ldn=tuple(not_ldn))


def _condition_verdict(condition: str, items: list[Study], rules: dict) -> ConditionVerdict:
    hits: list[RuleHit] = []
    new = [s for s in items if is_new(s, rules)]
    live = [s for s in items if not s.retracted]
    rcts = [s for s in live if is_rct(s)]
    new_rcts = [s for s in rcts if is_new(s, rules)]
    # pivotal trial
    for s in new_rcts:
        if not pivotal_gaps(s, rules):
            status = _status_for(s.assessment.result_direction)
            if status:
                hits.append(RuleHit("pivotal_trial", status,
                                    f"new pivotal trial ({describe(s)}): primary result {s.assessment.result_direction}",
                                    (s.pmid,)))

    # information size: cumulative randomized n, consistent direction, some of it new
    cumulative = sum(s.assessment.n_enrolled or 0 for s in rcts)
    # "mixed" counts as a direction of its own here, so it breaks consistency.
    dirs = {_direction(s.assessment.result_direction) or
            ("mixed" if s.assessment.result_direction == "mixed" else None) for s in rcts} - {None}
    if cumulative >= rules["information_size"]["optimal_n"] and new_rcts and len(dirs) == 1 and "mixed" not in dirs:
        d = dirs.pop()
        hits.append(RuleHit("information_size", "review_benefit" if d == "favorable" else "review_no_benefit",
                            f"{len(rcts)} randomized controlled trials total n = {cumulative} "
                            f"(≥ {rules['information_size']['optimal_n']}), all {'favorable' if d == 'favorable' else 'null or unfavorable'}",
                            tuple(s.pmid for s in rcts)))

    # conflict: a new adequate trial contradicts an earlier adequate one
    adequate = [s for s in rcts if _adequate_for_conflict(s, rules)]
    for s in adequate:
        if not is_new(s, rules):
            continue
        earlier = [e for e in adequate if (study_date(e), e.pmid) < (study_date(s), s.pmid)
                   and _direction(e.assessment.result_direction) != _direction(s.assessment.result_direction)]
        # A new pivotal trial outweighs earlier smaller trials (Shojania's "pivotal trial whose
        # result differs"): that is the pivotal rule's call, not a conflict. Two pivotal trials
        # that disagree, or two smaller ones, are a conflict.
        if not pivotal_gaps(s, rules):
            earlier = [e for e in earlier if not pivotal_gaps(e, rules)]
        if earlier:
            hits.append(RuleHit("conflict", "review_conflicting",
                                f"new trial ({describe(s)}) is {s.assessment.result_direction}, earlier "
                                f"trial{'s' if len(earlier) > 1 else ''} {', '.join(e.pmid for e in earlier)} "
                                f"{'were' if len(earlier) > 1 else 'was'} {earlier[-1].assessment.result_direction}",
                                (s.pmid, *(e.pmid for e in earlier))))

    # pooled evidence
    pr = rules["pooled"]
    for s in live:
        a = s.assessment
        # "Of RCTs": a review that says it pooled randomized trials counts by trials or
        # participants; one that does not say counts only by participants; one that pooled
        # observational studies or case reports does not count.
        big_by_trials = a.pooled_rcts is True and (a.n_studies or 0) >= pr["min_trials"]
        big_by_people = a.pooled_rcts is not False and (a.n_enrolled or 0) >= pr["min_participants"]
        if a.design in pr["designs"] and is_new(s, rules) and (big_by_trials or big_by_people):
            status = _status_for(a.result_direction)
            if status:
                size = " and ".join(x for x in (f"{a.n_studies} studies" if a.n_studies else "",
                                                f"n = {a.n_enrolled}" if a.n_enrolled else "") if x)
                hits.append(RuleHit("pooled_evidence", status,
                                    f"new {a.design.replace('_', ' ')} ({size}) concludes {a.result_direction}",
                                    (s.pmid,)))

    # safety: serious harm in a new report; retraction of a study the evidence relied on
    safety = [s for s in items if s.assessment.serious_harm]
    for s in safety:
        if is_new(s, rules):
            hits.append(RuleHit("safety", "review_safety", f"serious harm reported ({describe(s)})", (s.pmid,)))
    if rules.get("safety", {}).get("retraction_counts", True):
        for s in items:
            if s.retracted and (is_controlled_trial(s) or s.assessment.design in pr["designs"]):
                hits.append(RuleHit("retraction", "review_safety",
                                    f"a study the evidence relied on was retracted ({describe(s)})", (s.pmid,)))

    status = "unchanged"
    if hits:
        statuses = {h.status for h in hits}
        if {"review_benefit", "review_no_benefit"} <= statuses:
            statuses.add("review_conflicting")
            hits.append(RuleHit("conflict", "review_conflicting",
                                "rules point both ways: some evidence favours LDN, some does not",
                                tuple(dict.fromkeys(p for h in hits for p in h.pmids))))
        status = max(statuses, key=lambda st: _PRECEDENCE[st])

    largest = max(rcts, key=lambda s: s.assessment.n_enrolled or 0, default=None)
    directions: dict[str, int] = {}
    for s in rcts:
        key = s.assessment.result_direction or "unknown"
        directions[key] = directions.get(key, 0) + 1
    return ConditionVerdict(
        condition=condition, status=status, hits=tuple(hits),
        studies=tuple(s.pmid for s in items), new_studies=tuple(s.pmid for s in new),
        controlled_trials=sum(1 for s in live if is_controlled_trial(s)), randomized_trials=len(rcts),
        cumulative_n=cumulative,
        largest_trial_n=largest.assessment.n_enrolled if largest and largest.assessment.n_enrolled else None,
        largest_trial_pmid=largest.pmid if largest and largest.assessment.n_enrolled else None,
        directions=directions,
        reviews=tuple(s.pmid for s in live if s.assessment.design in ("systematic_review", "meta_analysis")),
        upcoming=tuple(s.pmid for s in live if s.assessment.design in UPCOMING_DESIGNS),
        safety_reports=tuple(s.pmid for s in safety),
    )


def moved(previous: dict[str, dict], report: VerdictReport) -> list[dict]:
    """Conditions whose status differs from the previous digest's (new conditions included)."""
    out = []
    for c in report.conditions:
        before = previous.get(c.condition, {}).get("status", "unchanged")
        if before != c.status:
            out.append({"condition": c.condition, "from": before, "to": c.status})
    for cond, prev in previous.items():
        if report.get(cond) is None and prev.get("status", "unchanged") != "unchanged":
            out.append({"condition": cond, "from": prev["status"], "to": "unchanged"})
    return out
