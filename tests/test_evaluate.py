"""Tests of the evaluation arithmetic and report formatting (no corpus needed)."""
from __future__ import annotations

import json

import pytest

from ldn_monitor.evaluate import assess_record, evaluate, format_report, load_jsonl, main, select_half
from ldn_monitor.records import LABEL_FIELDS, DesignAssessment, Evidence


def gold(rid, **kw):
    base = {name: None for name in LABEL_FIELDS}
    base.update(record_id=rid, evidence={})
    base.update(kw)
    return base


def pred(rid, **kw):
    d = gold(rid, **kw)
    d["evidence"] = {k: "x" for k, v in kw.items() if v is not None}
    return d


def test_accuracy_nonnull_and_all():
    g = [gold("a", design="rct_parallel", blinding="double"), gold("b", design="case_report", blinding=None)]
    p = [pred("a", design="rct_parallel", blinding="single"), pred("b", design="case_report", blinding=None)]
    r = evaluate(g, p)
    b = r.field("blinding")
    assert (b.correct_nonnull, b.total_nonnull) == (0, 1)
    assert (b.correct_all, b.total_all) == (1, 2)
    assert r.field("design").acc_all == 1.0


def test_n_enrolled_exact_within10_and_stated():
    g = [gold("a", n_enrolled=100, evidence={"n_enrolled": "100 patients"}), gold("b", n_enrolled=50), gold("c")]
    p = [pred("a", n_enrolled=95), pred("b", n_enrolled=50), pred("c", n_enrolled=7)]
    r = evaluate(g, p)
    assert r.field("n_enrolled").correct_nonnull == 1
    assert r.n_enrolled_within10.correct_nonnull == 2
    assert (r.n_enrolled_stated.correct_nonnull, r.n_enrolled_stated.total_nonnull) == (0, 1)
    assert r.field("n_enrolled").correct_all == 1  # c: gold null, predicted 7 -> wrong


def test_duration_tolerance():
    g = [gold("a", duration_weeks=13), gold("b", duration_weeks=8)]
    p = [pred("a", duration_weeks=12.99), pred("b", duration_weeks=8.6)]
    r = evaluate(g, p)
    assert r.field("duration_weeks").correct_nonnull == 1


def test_prf_and_confusion():
    g = [gold("1", design="rct_parallel", is_ldn=True), gold("2", design="rct_crossover", is_ldn=True),
         gold("3", design="single_arm", is_ldn=False), gold("4", design="observational", is_ldn=True)]
    p = [pred("1", design="rct_parallel", is_ldn=True), pred("2", design="single_arm", is_ldn=True),
         pred("3", design="rct_parallel", is_ldn=True), pred("4", design="observational", is_ldn=False)]
    r = evaluate(g, p)
    assert (r.rct_prf.tp, r.rct_prf.fp, r.rct_prf.fn, r.rct_prf.tn) == (1, 1, 1, 1)
    assert r.rct_prf.precision == 0.5 and r.rct_prf.recall == 0.5 and r.rct_prf.f1 == 0.5
    assert r.is_ldn_prf.precision == pytest.approx(2 / 3) and r.is_ldn_prf.recall == pytest.approx(2 / 3)
    assert r.design_confusion["rct_crossover"] == {"single_arm": 1}
    text = format_report(r, show_mismatches=True)
    assert "design confusion" in text and "RCT vs rest" in text and "targets" in text


def test_evidence_missing_counted_and_assessment_objects_accepted():
    g = [gold("a", design="other")]
    a = DesignAssessment(pmid=None, design="other", evidence=(Evidence("design", "t", 0, 1),))
    r = evaluate(g, [a])
    assert r.evidence_missing == 0
    r2 = evaluate(g, [{"record_id": "a", "design": "other", "evidence": {}}])
    assert r2.evidence_missing == 1


def test_missing_prediction_raises():
    with pytest.raises(ValueError):
        evaluate([gold("a"), gold("b")], [pred("a")])


def test_assess_record_output_shape():
    rec = {"record_id": "X1", "pmid": "123", "title": "Low-dose naltrexone in fibromyalgia: a randomized trial",
           "abstract": "Methods: Forty women were randomized to LDN 4.5 mg or placebo for 12 weeks.", "nct_ids": []}
    out = assess_record(rec)
    for k in ("record_id", "pmid", "evidence", "quality_score", "limitations", *LABEL_FIELDS):
        assert k in out
    assert out["n_enrolled"] == 40
    json.dumps(out)  # serialisable
    for name, span in out["evidence"].items():
        assert isinstance(span, str) and span


def test_load_jsonl_select_half_and_main(tmp_path, capsys):
    p = tmp_path / "g.jsonl"
    recs = [{"record_id": f"R{i}", "title": "Low dose naltrexone case", "abstract": "We describe a 40-year-old woman treated with LDN 4.5 mg.",
             **{n: None for n in LABEL_FIELDS}, "design": "case_report", "evidence": {}} for i in range(3)]
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    assert len(load_jsonl(p)) == 3
    assert [r["record_id"] for r in select_half(recs, "odd")] == ["R1"]
    assert main(["--gold", str(p)]) == 0
    assert "records: 3" in capsys.readouterr().out
