#!/usr/bin/env python
"""Build the offline ClinicalTrials.gov demo snapshot (API v2-shaped study JSON) for the replay server.

    .venv/bin/python scripts/build_ctgov_snapshot.py --corpus ../shared/corpus/dev.jsonl --out data/snapshot/ctgov

We have no registry access here, so nothing is downloaded: each file is *synthesized*. For the trials the
corpus names (``nct_ids``), titles, conditions and design facts come from the corpus record (what its
abstract states); statuses, dates, phases and hasResults are invented per :data:`PLAN` so the demo shows
every registry signal. Trials NCT99999901… are wholly made up (fake NCT ids, titles marked
"[synthetic]"). Output is deterministic: same corpus, same bytes. Writes ``NCT*.json`` and ``README.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable without installing

DEMO_TODAY = "2026-11-25"  # the day the plan below is written against (12-month signal etc.)

CONDITION_NAMES = {
    "fibromyalgia": ["Fibromyalgia"],
    "gulf_war_illness": ["Gulf War Illness"],
    "interstitial_cystitis_bladder_pain": ["Interstitial Cystitis", "Bladder Pain Syndrome"],
    "me_cfs": ["Chronic Fatigue Syndrome", "Myalgic Encephalomyelitis"],
}
WHO_MASKED = {
    "single": ["PARTICIPANT"],
    "double": ["PARTICIPANT", "INVESTIGATOR"],
    # The corpus' "triple" records all say four parties were masked (its label notes): QUADRUPLE.
    "triple": ["PARTICIPANT", "CARE_PROVIDER", "INVESTIGATOR", "OUTCOMES_ASSESSOR"],
}
MASKING = {"none": "NONE", "single": "SINGLE", "double": "DOUBLE", "triple": "QUADRUPLE"}

# Invented registry state for the corpus trials (the corpus does not know it). Dates are plausible for
# the NCT number and the paper, nothing more. "why" says what the entry exercises in the demo.
PLAN = {
    "NCT00568555": dict(status="COMPLETED", phases=["PHASE2"], start="2009-06", primary="2011-10",
                        completion="2011-12", first_post="2007-12-18", last_update="2013-06-20",
                        results_post=None, why="completed long ago, linked to its paper: no signal"),
    "NCT04270877": dict(status="COMPLETED", phases=["PHASE2"], start="2021-01-06", primary="2023-03-21",
                        completion="2023-03-31", first_post="2020-02-17", last_update="2024-06-10",
                        results_post="2024-06-10",
                        why="completed with results posted, linked to its paper: the paper counts, not the registry"),
    "NCT02206490": dict(status="COMPLETED", phases=["PHASE2"], start="2014-09", primary="2017-03",
                        completion="2017-06", first_post="2014-08-01", last_update="2018-09-05",
                        results_post=None, why="completed, linked by NCT id in the abstract text"),
    "NCT04450316": dict(status="UNKNOWN", last_known="RECRUITING", phases=["PHASE2"], start="2020-09-01",
                        primary="2022-09", completion="2022-12", first_post="2020-06-29",
                        last_update="2021-03-02", results_post=None,
                        why="status unknown (sponsor stopped verifying); linked to the corpus record"),
    "NCT02965768": dict(status="COMPLETED", phases=["PHASE2"], start="2017-01", primary="2021-03",
                        completion="2021-06", first_post="2016-11-17", last_update="2021-08-11",
                        results_post=None, why="completed, linked to the corpus record: no signal"),
}

# Wholly synthetic trials: fake NCT ids (NCT999999xx), titles start with "[synthetic]".
SYNTHETIC = [
    dict(nct="NCT99999901", title="Low-Dose Naltrexone for Chronic Low Back Pain: a Randomized, Double-Blind, "
         "Placebo-Controlled Trial", conditions=["Chronic Low Back Pain"], allocation="RANDOMIZED",
         model="PARALLEL", blinding="double", control="placebo", n=84, n_type="ACTUAL", dose="4.5",
         weeks=12, status="COMPLETED", phases=["PHASE2"], start="2022-03-01", primary="2024-06-28",
         completion="2024-08-30", first_post="2022-01-20", last_update="2024-10-02", results_post=None,
         why="completed 2024-08-30, > 12 months before 2026-11-25, no publication: publication-bias signal"),
    dict(nct="NCT99999902", title="Low-Dose Naltrexone for Post-COVID-19 Condition (Long COVID) Fatigue: a "
         "Phase 3 Randomized, Quadruple-Masked, Placebo-Controlled Trial", conditions=["Post-COVID-19 Condition"],
         allocation="RANDOMIZED", model="PARALLEL", blinding="triple", control="placebo", n=320,
         n_type="ESTIMATED", dose="4.5", weeks=16, status="RECRUITING", phases=["PHASE3"], start="2025-09-15",
         primary="2027-12", completion="2028-03", first_post="2025-08-01", last_update="2026-10-20",
         results_post=None, why="recruiting, large, randomized, blinded: upcoming evidence (target n flagged)"),
    dict(nct="NCT99999903", title="Low-Dose Naltrexone Versus Placebo in Adults With Fibromyalgia: a Phase 3 "
         "Multicentre Randomized Trial", conditions=["Fibromyalgia"], allocation="RANDOMIZED", model="PARALLEL",
         blinding="triple", control="placebo", n=240, n_type="ACTUAL", dose="4.5", weeks=12,
         status="COMPLETED", phases=["PHASE3"], start="2023-05-01", primary="2025-11-30",
         completion="2026-02-15", first_post="2023-03-14", last_update="2026-09-10", results_post="2026-09-10",
         why="completed with results posted, no paper yet: counts toward cumulative n as registry results; "
             "'trial completed' and 'results posted' at first sight (both within the last year)"),
    dict(nct="NCT99999904", title="Open-Label Low-Dose Naltrexone for Hailey-Hailey Disease: a Single-Arm "
         "Pilot Study", conditions=["Hailey-Hailey Disease"], allocation="NA", model="SINGLE_GROUP",
         blinding="none", control="none", n=20, n_type="ESTIMATED", dose="4.5", weeks=24,
         status="NOT_YET_RECRUITING", phases=["PHASE2"], start="2027-01", primary="2027-12",
         completion="2028-06", first_post="2026-10-05", last_update="2026-10-05", results_post=None,
         why="small open-label single arm: registered, listed as a protocol, not 'large randomized blinded'"),
    dict(nct="NCT99999905", title="Low-Dose Naltrexone and Fatigue in Relapsing Multiple Sclerosis",
         conditions=["Multiple Sclerosis"], allocation="RANDOMIZED", model="CROSSOVER", blinding="double",
         control="placebo", n=0, n_type="ACTUAL", dose="4.5", weeks=8, status="WITHDRAWN", phases=["PHASE2"],
         start="2024-02", primary="2025-02", completion="2025-02", first_post="2023-11-02",
         last_update="2024-03-18", results_post=None, why_stopped="Funding not obtained (synthetic)",
         why="withdrawn before enrolling: kept in the trials table, never counted as evidence"),
]


def load_corpus(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _dose(record: dict) -> str | None:
    for text in (record.get("abstract"), record.get("duration_text"), record.get("label_notes")):
        m = re.search(r"(\d+(?:\.\d+)?)\s*mg", text or "")
        if m:
            return m.group(1)
    return None


def _summary(record: dict) -> str:
    para = (record.get("abstract") or "").split("\n")[0]
    para = re.sub(r"^[A-Z][A-Z /]+:\s*", "", para).strip()
    return para if len(para) <= 400 else para[:399].rstrip() + "…"


def _day(value: str | None, kind: str = "ACTUAL") -> dict | None:
    return {"date": value, "type": kind} if value else None


def _study(*, nct: str, brief: str, official: str, conditions: list[str], allocation: str | None, model: str,
           blinding: str | None, control: str | None, n: int | None, n_type: str | None, dose: str | None,
           weeks: float | None, plan: dict, summary: str) -> dict:
    status = plan["status"]
    future = status in ("RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "ENROLLING_BY_INVITATION")
    status_module = {
        "statusVerifiedDate": plan["last_update"][:7],
        "overallStatus": status,
    }
    if plan.get("last_known"):
        status_module["lastKnownStatus"] = plan["last_known"]
    if plan.get("why_stopped"):
        status_module["whyStopped"] = plan["why_stopped"]
    status_module.update({
        "startDateStruct": _day(plan["start"], "ESTIMATED" if status == "NOT_YET_RECRUITING" else "ACTUAL"),
        "primaryCompletionDateStruct": _day(plan["primary"], "ESTIMATED" if future else "ACTUAL"),
        "completionDateStruct": _day(plan["completion"], "ESTIMATED" if future else "ACTUAL"),
        "studyFirstSubmitDate": plan["first_post"],
        "studyFirstPostDateStruct": _day(plan["first_post"]),
        "lastUpdateSubmitDate": plan["last_update"],
        "lastUpdatePostDateStruct": _day(plan["last_update"]),
    })
    if plan.get("results_post"):
        status_module["resultsFirstPostDateStruct"] = _day(plan["results_post"])
    design_info: dict = {}
    if allocation:
        design_info["allocation"] = allocation
    design_info["interventionModel"] = model
    design_info["primaryPurpose"] = "TREATMENT"
    if blinding:
        design_info["maskingInfo"] = {"masking": MASKING[blinding]}
        if blinding != "none":
            design_info["maskingInfo"]["whoMasked"] = WHO_MASKED[blinding]
    design = {"studyType": "INTERVENTIONAL", "phases": plan["phases"], "designInfo": design_info}
    if n is not None:
        design["enrollmentInfo"] = {"count": n, "type": n_type or "ACTUAL"}
    how = f"Naltrexone {dose} mg by mouth once daily at bedtime" if dose else "Low-dose naltrexone by mouth once daily"
    if weeks:
        how += f" for {weeks:g} weeks"
    arms = [{"label": "Low-dose naltrexone", "type": "EXPERIMENTAL", "description": how + ".",
             "interventionNames": ["Drug: Low-dose naltrexone"]}]
    interventions = [{"type": "DRUG", "name": "Low-dose naltrexone", "description": how + ".",
                      "armGroupLabels": ["Low-dose naltrexone"], "otherNames": ["LDN"]}]
    if control == "placebo":
        arms.append({"label": "Placebo", "type": "PLACEBO_COMPARATOR",
                     "description": "Identical-looking placebo capsule on the same schedule.",
                     "interventionNames": ["Drug: Placebo"]})
        interventions.append({"type": "DRUG", "name": "Placebo", "description": "Inert capsule, identical in appearance.",
                              "armGroupLabels": ["Placebo"]})
    elif control == "active":
        arms.append({"label": "Active comparator", "type": "ACTIVE_COMPARATOR", "description": "Usual active drug.",
                     "interventionNames": ["Drug: Active comparator"]})
    protocol = {
        "identificationModule": {"nctId": nct, "briefTitle": brief, "officialTitle": official},
        "statusModule": status_module,
        "descriptionModule": {"briefSummary": summary},
        "conditionsModule": {"conditions": conditions},
        "designModule": design,
        "armsInterventionsModule": {"armGroups": arms, "interventions": interventions},
    }
    if weeks:
        protocol["outcomesModule"] = {"primaryOutcomes": [
            {"measure": "Change in primary symptom score", "timeFrame": f"Baseline to week {weeks:g}"}]}
    return {"protocolSection": protocol, "hasResults": bool(plan.get("results_post"))}


def corpus_studies(records: list[dict]) -> list[tuple[dict, dict]]:
    """(study, info) for each NCT id in the corpus ``nct_ids`` that PLAN covers, corpus order."""
    out = []
    for rec in records:
        for nct in rec.get("nct_ids") or []:
            if not re.fullmatch(r"NCT\d{8}", nct):
                continue
            if nct not in PLAN:
                raise SystemExit(f"corpus names {nct} (record {rec['record_id']}) but PLAN has no entry for it; "
                                 "add one to scripts/build_ctgov_snapshot.py")
            title = rec.get("title") or (f"Low-dose naltrexone in {CONDITION_NAMES.get(rec.get('condition'), ['?'])[0]} "
                                         f"({nct})")
            conditions = CONDITION_NAMES.get(rec.get("condition") or "", [str(rec.get("condition") or "Not stated")])
            allocation = "RANDOMIZED" if rec.get("randomized") is True else None  # only what the abstract states
            n = rec.get("n_enrolled") if rec.get("n_enrolled") is not None else rec.get("n_analyzed")
            study = _study(
                nct=nct, brief=title, official=title, conditions=conditions, allocation=allocation,
                model="CROSSOVER" if rec.get("design") == "rct_crossover" else "PARALLEL",
                blinding=rec.get("blinding"), control=rec.get("control"), n=n, n_type="ACTUAL",
                dose=_dose(rec), weeks=rec.get("duration_weeks"), plan=PLAN[nct], summary=_summary(rec))
            out.append((study, {"nct": nct, "source": f"corpus {rec['record_id']}", "why": PLAN[nct]["why"],
                                "status": PLAN[nct]["status"], "condition": ", ".join(conditions),
                                "enrollment": f"{n} ACTUAL" if n is not None else "not stated"}))
    return out


def synthetic_studies() -> list[tuple[dict, dict]]:
    out = []
    for s in SYNTHETIC:
        plan = {k: s.get(k) for k in ("status", "phases", "start", "primary", "completion", "first_post",
                                      "last_update", "results_post", "why_stopped")}
        title = "[synthetic] " + s["title"]
        study = _study(nct=s["nct"], brief=title, official=title + " (synthetic demo record)",
                       conditions=s["conditions"], allocation=s["allocation"], model=s["model"],
                       blinding=s["blinding"], control=s["control"], n=s["n"], n_type=s["n_type"], dose=s["dose"],
                       weeks=s["weeks"], plan=plan,
                       summary="Synthetic demo record for ldn-monitor; this trial does not exist.")
        out.append((study, {"nct": s["nct"], "source": "synthetic", "why": s["why"], "status": s["status"],
                            "condition": ", ".join(s["conditions"]), "enrollment": f"{s['n']} {s['n_type']}"}))
    return out


def readme(corpus_name: str, corpus_sha: str, rows: list[dict]) -> str:
    lines = [
        "# Offline ClinicalTrials.gov snapshot (generated, synthetic)",
        "",
        "Do not edit by hand: rebuild with",
        "",
        "    .venv/bin/python scripts/build_ctgov_snapshot.py --corpus ../shared/corpus/dev.jsonl "
        "--out data/snapshot/ctgov",
        "",
        f"Source: `{corpus_name}` (SHA-256 `{corpus_sha}`) and the plan in the script. Deterministic: same "
        "corpus, same bytes.",
        "",
        "## ClinicalTrials.gov registry snapshot",
        "",
        "**These are demo fixtures shaped like the ClinicalTrials.gov API v2 schema, not copies of the registry.** "
        "We had no registry access when building them; nothing here was downloaded from ClinicalTrials.gov.",
        "",
        "- One file per trial, `NCTxxxxxxxx.json`, each a single v2 study object (`protocolSection` with "
        "identification, status, description, conditions, design, arms/interventions and outcomes modules, "
        "plus top-level `hasResults`). The replay server serves them as `GET /api/v2/studies` "
        "(`ldn_monitor/ctgov_replay.py`); `ldn-monitor demo` mounts this folder automatically.",
        "- **Corpus trials** (the NCT ids in the corpus `nct_ids`): titles, conditions, allocation, masking, "
        "comparator, dose, treatment length and enrollment come from what the corpus record's (paraphrased) "
        "abstract states; allocation is left out where the abstract does not say \"randomized\", and "
        "enrollment is left out where it gives no count (for NCT02206490 it is the 37 completers). "
        "**Statuses, dates, phases and hasResults are invented** so the demo exercises every registry "
        "signal; the real registry entries may say otherwise. `briefSummary` is the first paragraph of the "
        "corpus paraphrase. The corpus \"triple\" trials are written as masking `QUADRUPLE` (their label notes "
        "say four parties were masked).",
        "- **Synthetic trials** `NCT99999901`–`NCT99999905` do not exist: fake NCT ids, titles starting "
        "\"[synthetic]\", summaries saying so. They supply the signals no corpus trial can (a trial nobody "
        "has published, a recruiting trial with no paper yet).",
        "- NCT ids named only in corpus label notes (not in `nct_ids`) are left out: the PubMed snapshot does "
        "not link them, so the same trial would appear twice.",
        "",
        f"What each entry exercises (relative to {DEMO_TODAY}; the demo's digest depends on the run date):",
        "",
        "| NCT id | source | status | condition | enrollment | exercises |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['nct']} | {r['source']} | {r['status']} | {r['condition']} | {r['enrollment']} | {r['why']} |")
    lines += [
        "",
        "All five corpus trials are linked to their PubMed snapshot record by the NCT id in its DataBank list, so "
        "the verdict counts the paper and leaves the registry entry out.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="../shared/corpus/dev.jsonl")
    ap.add_argument("--out", default="data/snapshot/ctgov")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = corpus_studies(load_corpus(corpus)) + synthetic_studies()
    seen = set()
    for old in out.glob("NCT*.json"):
        old.unlink()  # a trial dropped from the plan must not linger in the snapshot
    for study, info in items:
        if info["nct"] in seen:
            continue
        seen.add(info["nct"])
        text = json.dumps(study, ensure_ascii=False, indent=2) + "\n"
        (out / f"{info['nct']}.json").write_text(text, encoding="utf-8")
    sha = hashlib.sha256(corpus.read_bytes()).hexdigest()
    rows = [info for _, info in items]
    (out / "README.md").write_text(readme(corpus.name, sha, rows), encoding="utf-8")
    print(f"wrote {len(seen)} studies and README.md to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
