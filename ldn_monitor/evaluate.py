"""Score the assessor against labelled corpus records.

Pure functions (``evaluate``, ``format_report``, ``assess_record``) plus two small I/O helpers
(``load_jsonl``, ``main``) for the command line:

    python -m ldn_monitor.evaluate --gold ../shared/corpus/dev.jsonl
    python -m ldn_monitor.evaluate --gold ../shared/corpus/dev.jsonl --predictions preds.jsonl

Accuracy is reported two ways per field:
- ``gold≠null``: over records whose gold label is not null (did we get the stated value right?);
- ``all``: over every record, a null prediction matching a null gold counts as correct (did we
  also abstain where the abstract does not say?).
``n_enrolled`` is also scored within ±10 %, ``duration_weeks`` within ±0.5 week, and
``n_enrolled`` is scored separately on records whose gold evidence quotes the abstract
("stated in abstract").
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .records import DESIGNS, LABEL_FIELDS, RCT_DESIGNS, DesignAssessment

# Targets from issue 3 (measured on unseen studies; printed next to the dev numbers).
TARGETS = {
    "n_enrolled_exact_stated": 0.95,
    "rct_recall": 0.98,
    "rct_precision": 0.90,
    "is_ldn": 0.95,
    "blinding": 0.90,
    "control": 0.90,
    "duration_weeks": 0.90,
    "design": 0.85,
    "result_direction": 0.85,
}


@dataclass(frozen=True)
class FieldScore:
    field: str
    correct_nonnull: int
    total_nonnull: int
    correct_all: int
    total_all: int

    @property
    def acc_nonnull(self) -> Optional[float]:
        return self.correct_nonnull / self.total_nonnull if self.total_nonnull else None

    @property
    def acc_all(self) -> Optional[float]:
        return self.correct_all / self.total_all if self.total_all else None


@dataclass(frozen=True)
class PRF:
    name: str
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> Optional[float]:
        return self.tp / (self.tp + self.fp) if (self.tp + self.fp) else None

    @property
    def recall(self) -> Optional[float]:
        return self.tp / (self.tp + self.fn) if (self.tp + self.fn) else None

    @property
    def f1(self) -> Optional[float]:
        p, r = self.precision, self.recall
        if p is None or r is None or (p + r) == 0:
            return None
        return 2 * p * r / (p + r)


@dataclass(frozen=True)
class EvalReport:
    n_records: int
    fields: tuple[FieldScore, ...]
    n_enrolled_within10: FieldScore
    n_enrolled_stated: FieldScore
    is_ldn_prf: PRF
    rct_prf: PRF
    design_confusion: dict  # gold -> {pred -> count}
    evidence_missing: int  # predicted non-null fields with no evidence span
    mismatches: tuple[tuple[str, str, Any, Any], ...] = ()  # (record_id, field, gold, pred)

    def field(self, name: str) -> FieldScore:
        for f in self.fields:
            if f.field == name:
                return f
        raise KeyError(name)

    def target_checks(self) -> list[tuple[str, Optional[float], float, bool]]:
        """(name, value, target, met) for each issue-3 target, on this corpus."""
        vals = {
            "n_enrolled_exact_stated": self.n_enrolled_stated.acc_nonnull,
            "rct_recall": self.rct_prf.recall,
            "rct_precision": self.rct_prf.precision,
            "is_ldn": self.field("is_ldn").acc_all,
            "blinding": self.field("blinding").acc_all,
            "control": self.field("control").acc_all,
            "duration_weeks": self.field("duration_weeks").acc_all,
            "design": self.field("design").acc_all,
            "result_direction": self.field("result_direction").acc_all,
        }
        return [(k, vals[k], t, vals[k] is not None and vals[k] >= t) for k, t in TARGETS.items()]


def _pred_dict(p: Any) -> dict:
    if isinstance(p, DesignAssessment):
        d = p.labels()
        d["evidence"] = {e.field: e.text for e in p.evidence}
        return d
    return dict(p)


def _match(name: str, gold: Any, pred: Any) -> bool:
    if gold is None or pred is None:
        return gold is None and pred is None
    if name == "duration_weeks":
        return abs(float(gold) - float(pred)) <= 0.5
    if name in ("n_enrolled", "n_analyzed", "n_studies"):
        return int(gold) == int(pred)
    return gold == pred


def _within10(gold: Any, pred: Any) -> bool:
    if gold is None or pred is None:
        return gold is None and pred is None
    return abs(float(pred) - float(gold)) <= 0.10 * abs(float(gold))


def evaluate(gold_records: Sequence[Mapping], predictions: Sequence[Any]) -> EvalReport:
    """Compare predictions with gold labels.

    ``predictions`` is either aligned with ``gold_records`` (same order and length) or a sequence
    of dicts carrying ``record_id``; each prediction is a dict of label fields (``assess_record``
    output) or a ``DesignAssessment``.
    """
    preds = [_pred_dict(p) for p in predictions]
    by_id = {p.get("record_id"): p for p in preds if p.get("record_id") is not None}
    pairs = []
    for i, g in enumerate(gold_records):
        rid = g.get("record_id")
        if rid is not None and rid in by_id:
            pairs.append((g, by_id[rid]))
        elif len(preds) == len(gold_records):
            pairs.append((g, preds[i]))
        else:
            raise ValueError(f"no prediction for record {rid!r}")

    scores = []
    mismatches = []
    for name in LABEL_FIELDS:
        cn = tn = ca = 0
        for g, p in pairs:
            gv, pv = g.get(name), p.get(name)
            ok = _match(name, gv, pv)
            if gv is not None:
                tn += 1
                cn += ok
            ca += ok
            if not ok:
                mismatches.append((str(g.get("record_id")), name, gv, pv))
        scores.append(FieldScore(name, cn, tn, ca, len(pairs)))

    w_c = w_t = 0
    s_c = s_t = 0
    w_ca = 0
    for g, p in pairs:
        gv, pv = g.get("n_enrolled"), p.get("n_enrolled")
        ok10 = _within10(gv, pv)
        w_ca += ok10
        if gv is not None:
            w_t += 1
            w_c += ok10
            ev = (g.get("evidence") or {}).get("n_enrolled")
            if ev:
                s_t += 1
                s_c += _match("n_enrolled", gv, pv)
    within = FieldScore("n_enrolled ±10%", w_c, w_t, w_ca, len(pairs))
    stated = FieldScore("n_enrolled (stated in abstract)", s_c, s_t, s_c, s_t)

    def prf(name, pos_gold, pos_pred) -> PRF:
        tp = fp = fn = tn_ = 0
        for g, p in pairs:
            a, b = pos_gold(g), pos_pred(p)
            if a and b:
                tp += 1
            elif b and not a:
                fp += 1
            elif a and not b:
                fn += 1
            else:
                tn_ += 1
        return PRF(name, tp, fp, fn, tn_)

    ldn = prf("is_ldn", lambda g: g.get("is_ldn") is True, lambda p: p.get("is_ldn") is True)
    rct = prf("RCT vs rest", lambda g: g.get("design") in RCT_DESIGNS, lambda p: p.get("design") in RCT_DESIGNS)

    conf: dict = {}
    for g, p in pairs:
        gd, pd = g.get("design"), p.get("design")
        conf.setdefault(gd, {}).setdefault(pd, 0)
        conf[gd][pd] += 1

    missing = 0
    for _, p in pairs:
        ev = p.get("evidence") or {}
        for name in LABEL_FIELDS:
            if p.get(name) is not None and not ev.get(name):
                missing += 1

    return EvalReport(len(pairs), tuple(scores), within, stated, ldn, rct, conf, missing, tuple(mismatches))


def _f(x: Optional[float]) -> str:
    return "  -  " if x is None else f"{x:.3f}"


_ABBR = {
    "rct_parallel": "rctP", "rct_crossover": "rctX", "nonrandomized_controlled": "nrc", "single_arm": "arm1",
    "observational": "obs", "case_report": "cRep", "case_series": "cSer", "systematic_review": "SR",
    "meta_analysis": "MA", "narrative_review": "narr", "protocol": "prot", "secondary_analysis": "sec",
    "animal_or_in_vitro": "anim", "other": "oth",
}


def format_report(report: EvalReport, *, show_mismatches: bool = False) -> str:
    """A plain-text table of the report."""
    L = []
    L.append(f"records: {report.n_records}")
    L.append("")
    L.append(f"{'field':<34}{'acc gold≠null':>16}{'acc all':>16}")
    for fs in report.fields:
        L.append(
            f"{fs.field:<34}{_f(fs.acc_nonnull):>8} ({fs.correct_nonnull:>2}/{fs.total_nonnull:<2}){_f(fs.acc_all):>8} ({fs.correct_all:>2}/{fs.total_all:<2})"
        )
    w = report.n_enrolled_within10
    L.append(f"{'n_enrolled within ±10%':<34}{_f(w.acc_nonnull):>8} ({w.correct_nonnull:>2}/{w.total_nonnull:<2}){_f(w.acc_all):>8} ({w.correct_all:>2}/{w.total_all:<2})")
    st = report.n_enrolled_stated
    L.append(f"{'n_enrolled exact, stated in abstr.':<34}{_f(st.acc_nonnull):>8} ({st.correct_nonnull:>2}/{st.total_nonnull:<2})")
    L.append("(duration_weeks counts as correct within ±0.5 week; 'all' counts null=null as correct)")
    L.append("")
    L.append(f"{'binary':<20}{'P':>7}{'R':>7}{'F1':>7}   tp fp fn tn")
    for b in (report.is_ldn_prf, report.rct_prf):
        L.append(f"{b.name:<20}{_f(b.precision):>7}{_f(b.recall):>7}{_f(b.f1):>7}   {b.tp:>2} {b.fp:>2} {b.fn:>2} {b.tn:>2}")
    L.append("")
    L.append("design confusion (rows = gold, columns = predicted):")
    labels = [d for d in DESIGNS if d in report.design_confusion or any(d in row for row in report.design_confusion.values())]
    L.append(f"{'gold / pred':<26}" + "".join(f"{_ABBR.get(d, d)[:5]:>6}" for d in labels) + f"{'tot':>6}")
    for g in labels:
        row = report.design_confusion.get(g, {})
        if not row:
            continue
        L.append(f"{g:<26}" + "".join(f"{(row.get(d) or '.'):>6}" for d in labels) + f"{sum(row.values()):>6}")
    L.append("  " + ", ".join(f"{_ABBR[d]}={d}" for d in labels))
    L.append("")
    L.append(f"predicted non-null fields without an evidence span: {report.evidence_missing}")
    L.append("")
    L.append("targets (issue 3):")
    for name, v, t, ok in report.target_checks():
        L.append(f"  {name:<26} {_f(v):>6}  target ≥ {t:.2f}  {'MET' if ok else 'not met'}")
    if show_mismatches:
        L.append("")
        L.append("mismatches (record, field, gold, predicted):")
        for rid, name, gv, pv in report.mismatches:
            L.append(f"  {rid:<6} {name:<18} gold={gv!r:<28} pred={pv!r}")
    return "\n".join(L)


# ------------------------------------------------------------------ corpus helpers
def load_jsonl(path: str | Path) -> list[dict]:
    """Read one JSON object per non-blank line."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def assess_record(corpus_record: Mapping) -> dict:
    """Assess one corpus-style record; return the output JSON line as a dict."""
    from .assess import assess_text

    a = assess_text(
        corpus_record.get("title") or "",
        corpus_record.get("abstract") or "",
        pmid=corpus_record.get("pmid"),
        publication_types=tuple(corpus_record.get("publication_types") or ()),
        mesh_terms=tuple(corpus_record.get("mesh_terms") or ()),
        keywords=tuple(corpus_record.get("keywords") or ()),
        registry_ids=tuple(corpus_record.get("nct_ids") or corpus_record.get("registry_ids") or ()),
    )
    out = {"record_id": corpus_record.get("record_id"), "pmid": corpus_record.get("pmid")}
    out.update(a.labels())
    out["serious_harm"] = a.serious_harm
    out["evidence"] = {e.field: e.text for e in a.evidence}
    out["evidence_spans"] = {e.field: [e.start, e.end] for e in a.evidence}
    out["quality_score"] = a.quality_score
    out["quality_items"] = list(a.quality_items)
    out["limitations"] = list(a.limitations)
    out["assessor_version"] = a.assessor_version
    return out


def select_half(records: Sequence[Mapping], half: Optional[str]) -> list:
    """``even``/``odd`` record positions (0-based) for the split-half generalisation check."""
    if half in (None, "", "all"):
        return list(records)
    r = 0 if half == "even" else 1
    return [rec for i, rec in enumerate(records) if i % 2 == r]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ldn_monitor.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--gold", required=True, help="labelled corpus JSONL")
    ap.add_argument("--predictions", help="assessor output JSONL (default: assess the gold records now)")
    ap.add_argument("--half", choices=("all", "even", "odd"), default="all", help="score only even/odd record positions")
    ap.add_argument("--mismatches", action="store_true", help="list every wrong field")
    args = ap.parse_args(argv)
    gold = select_half(load_jsonl(args.gold), args.half)
    preds = load_jsonl(args.predictions) if args.predictions else [assess_record(g) for g in gold]
    print(format_report(evaluate(gold, preds), show_mismatches=args.mismatches))
    return 0


if __name__ == "__main__":
    sys.exit(main())
