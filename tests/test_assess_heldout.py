"""Held-out check of the assessor: 52 invented abstracts (tests/data/heldout.jsonl) in the styles of
unseen LDN literature and its decoys, labelled by the corpus README conventions.

The set was written and scored *before* the rules were changed (that first score, in
docs/assessment.md, is the honest estimate for unseen studies); the thresholds below are what the
rules reach now, and at least the issue-3 targets, so a change that loses generality fails here.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ldn_monitor.assess import assess_text, assessed_text
from ldn_monitor.evaluate import assess_record, evaluate, load_jsonl
from ldn_monitor.records import DESIGNS, LABEL_FIELDS

HELDOUT = Path(__file__).parent / "data" / "heldout.jsonl"

# issue-3 targets, raised to what the rules reach on this set (acc all; n_enrolled exact where stated)
THRESHOLDS = {
    "n_enrolled_exact_stated": 1.00,
    "rct_recall": 1.00,
    "rct_precision": 1.00,
    "is_ldn": 1.00,
    "blinding": 1.00,
    "control": 1.00,
    "duration_weeks": 1.00,
    "design": 1.00,
    "result_direction": 0.98,
}


@pytest.fixture(scope="module")
def gold():
    return load_jsonl(HELDOUT)


@pytest.fixture(scope="module")
def report(gold):
    return evaluate(gold, [assess_record(g) for g in gold])


def test_heldout_file_is_well_formed(gold):
    assert 40 <= len(gold) <= 60
    ids = [g["record_id"] for g in gold]
    assert len(set(ids)) == len(ids) and all(i.startswith("H") for i in ids)
    for g in gold:
        assert g["design"] in DESIGNS
        for name in LABEL_FIELDS:
            assert name in g
        text = assessed_text(g["title"], g["abstract"])
        for name, quote in (g.get("evidence") or {}).items():
            assert quote in text, (g["record_id"], name, quote)


@pytest.mark.parametrize("name", sorted(THRESHOLDS))
def test_heldout_targets(report, name):
    checks = {k: v for k, v, _t, _ok in report.target_checks()}
    assert checks[name] is not None
    assert checks[name] >= THRESHOLDS[name] - 1e-9, f"{name} = {checks[name]:.3f} < {THRESHOLDS[name]}"


def test_heldout_thresholds_not_below_issue_targets():
    from ldn_monitor.evaluate import TARGETS

    for name, target in TARGETS.items():
        assert THRESHOLDS[name] >= target


def test_every_evidence_span_is_exact_text(gold):
    for g in gold:
        a = assess_text(g["title"], g["abstract"])
        text = assessed_text(g["title"], g["abstract"])
        fields = {e.field for e in a.evidence}
        for name in LABEL_FIELDS:
            if getattr(a, name) is not None:
                assert name in fields, (g["record_id"], name)
        for e in a.evidence:
            assert 0 <= e.start < e.end <= len(text), (g["record_id"], e.field)
            assert text[e.start:e.end] == e.text, (g["record_id"], e.field)


def test_no_prediction_without_evidence(report):
    assert report.evidence_missing == 0


# A second held-out batch (tests/data/heldout2.jsonl), written by someone who never read the rules.
# Its first score, before any change, is in docs/assessment.md; these floors are what the rules reach
# now (below the issue targets for four fields: the honest state), so a change that loses ground fails.
HELDOUT2 = Path(__file__).parent / "data" / "heldout2.jsonl"
FLOORS2 = {
    "n_enrolled_exact_stated": 0.97,
    "rct_recall": 1.00,
    "rct_precision": 1.00,
    "is_ldn": 0.97,
    "blinding": 0.97,
    "control": 0.95,
    "duration_weeks": 0.90,
    "design": 1.00,
    "result_direction": 0.82,
}


@pytest.fixture(scope="module")
def report2():
    gold = load_jsonl(HELDOUT2)
    assert len(gold) == 40
    return evaluate(gold, [assess_record(g) for g in gold])


@pytest.mark.parametrize("name", sorted(FLOORS2))
def test_second_heldout_floors(report2, name):
    checks = {k: v for k, v, _t, _ok in report2.target_checks()}
    assert checks[name] >= FLOORS2[name] - 1e-9, f"{name} = {checks[name]:.3f} < {FLOORS2[name]}"
