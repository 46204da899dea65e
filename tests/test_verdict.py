"""Verdict rules, table-driven: each rule fires at its threshold and not just below it."""
from __future__ import annotations

import copy

import pytest

from ldn_monitor.records import DesignAssessment, Study
from ldn_monitor.settings import load_rules
from ldn_monitor.verdict import evaluate, moved, why_not

RULES = load_rules()


def study(pmid, date="2024-06-01", condition="fibromyalgia", retracted=False, **kw):
    a = dict(is_ldn=True, design="rct_parallel", randomized=True, blinding="double", control="placebo",
             n_enrolled=120, duration_weeks=24.0, condition=condition, result_direction="favorable")
    a.update(kw)
    return Study(pmid=pmid, title=f"study {pmid}", assessment=DesignAssessment(pmid=pmid, **a),
                 entrez_date=date, retracted=retracted)


def status(*studies, rules=RULES, condition="fibromyalgia"):
    c = evaluate(studies, rules).get(condition)
    return (c.status, c.rules_fired) if c else None


@pytest.mark.parametrize("changes,expected", [
    ({}, ("review_benefit", ["pivotal_trial"])),
    ({"result_direction": "null"}, ("review_no_benefit", ["pivotal_trial"])),
    ({"result_direction": "unfavorable"}, ("review_no_benefit", ["pivotal_trial"])),
    ({"result_direction": "mixed"}, ("review_conflicting", ["pivotal_trial"])),
    ({"n_enrolled": 100}, ("review_benefit", ["pivotal_trial"])),  # at the threshold
    ({"n_enrolled": 99}, ("unchanged", [])),  # just below
    ({"duration_weeks": 12.0}, ("review_benefit", ["pivotal_trial"])),
    ({"duration_weeks": 11.5}, ("unchanged", [])),
    ({"blinding": "triple"}, ("review_benefit", ["pivotal_trial"])),
    ({"blinding": "single"}, ("unchanged", [])),
    ({"blinding": "none"}, ("unchanged", [])),
    ({"control": "active"}, ("review_benefit", ["pivotal_trial"])),
    ({"control": "usual_care"}, ("unchanged", [])),
    ({"randomized": False, "design": "nonrandomized_controlled"}, ("unchanged", [])),
    ({"design": "rct_crossover"}, ("review_benefit", ["pivotal_trial"])),
    ({"duration_weeks": None}, ("unchanged", [])),  # never guess a duration
])
def test_pivotal_trial(changes, expected):
    assert status(study("1", **changes)) == expected


def test_pivotal_trial_before_the_verdict_is_baseline():
    assert status(study("1", date="2016-05-01")) == ("unchanged", [])


def test_standard_dose_trial_changes_nothing():
    report = evaluate([study("1", is_ldn=False, condition="alcohol_use_disorder", n_enrolled=1000)], RULES)
    assert report.conditions == () and report.not_ldn == ("1",) and not report.should_change


def test_thresholds_come_from_the_rules_file():
    rules = copy.deepcopy(RULES)
    rules["pivotal"]["min_n"] = 200
    assert status(study("1"), rules=rules) == ("unchanged", [])


@pytest.mark.parametrize("sizes,direction,expected", [
    ((150, 150, 100), "favorable", "review_benefit"),
    ((150, 150, 99), "favorable", "unchanged"),
    ((150, 150, 100), "null", "review_no_benefit"),
])
def test_information_size(sizes, direction, expected):
    # Small trials (no single one pivotal: 8 weeks) adding up to the optimal information size.
    trials = [study(str(i), date=f"20{19 + i}-01-01", n_enrolled=n, duration_weeks=8.0, result_direction=direction)
              for i, n in enumerate(sizes)]
    st, rules = status(*trials)
    assert st == expected
    assert (rules == ["information_size"]) == (expected != "unchanged")


def test_information_size_needs_consistent_direction():
    trials = [study("1", date="2019-01-01", n_enrolled=250, duration_weeks=8.0),
              study("2", date="2020-01-01", n_enrolled=250, duration_weeks=8.0, result_direction="mixed")]
    assert "information_size" not in status(*trials)[1]


@pytest.mark.parametrize("new_n,expected", [(30, "review_conflicting"), (29, "unchanged")])
def test_conflict(new_n, expected):
    earlier = study("1", date="2013-01-01", n_enrolled=31, duration_weeks=10.0)
    new = study("2", date="2024-01-01", n_enrolled=new_n, duration_weeks=8.0, result_direction="null")
    assert status(earlier, new)[0] == expected


def test_new_pivotal_trial_outweighs_earlier_small_trials():
    earlier = study("1", date="2013-01-01", n_enrolled=31, duration_weeks=10.0)
    assert status(earlier, study("2", result_direction="null")) == ("review_no_benefit", ["pivotal_trial"])


def test_two_pivotal_trials_that_disagree_conflict():
    earlier = study("1", date="2019-01-01")
    st, rules = status(earlier, study("2", date="2024-01-01", result_direction="null"))
    assert st == "review_conflicting" and "conflict" in rules


def test_conflict_needs_an_adequately_designed_earlier_trial():
    earlier = study("1", date="2013-01-01", n_enrolled=31, blinding="none", duration_weeks=10.0)
    new = study("2", date="2024-01-01", n_enrolled=40, duration_weeks=8.0, result_direction="null")
    assert status(earlier, new) == ("unchanged", [])


@pytest.mark.parametrize("kw,expected", [
    ({"n_studies": 4}, "review_benefit"),
    ({"n_studies": 3}, "unchanged"),
    ({"n_studies": 2, "n_enrolled": 400}, "review_benefit"),
    ({"n_studies": 2, "n_enrolled": 399}, "unchanged"),
    ({"n_studies": 5, "result_direction": "null"}, "review_no_benefit"),
    ({"n_studies": 5, "result_direction": "not_applicable"}, "unchanged"),
    ({"n_studies": 5, "design": "narrative_review"}, "unchanged"),
    ({"n_studies": 22, "pooled_rcts": None}, "unchanged"),  # may be case reports: trials not enough
    ({"n_studies": 2, "n_enrolled": 400, "pooled_rcts": None}, "review_benefit"),
    ({"n_studies": 4, "n_enrolled": 900, "pooled_rcts": False}, "unchanged"),  # pooled observational studies
])
def test_pooled_evidence(kw, expected):
    base = dict(design="meta_analysis", randomized=None, blinding=None, control=None, n_enrolled=None,
                duration_weeks=None, pooled_rcts=True)
    base.update(kw)
    assert status(study("1", **base))[0] == expected


def test_safety_signal_wins_over_benefit():
    harm = study("2", design="case_report", randomized=False, blinding="none", control="none", n_enrolled=1,
                 duration_weeks=None, serious_harm=True)
    st, rules = status(study("1"), harm)
    assert st == "review_safety" and set(rules) == {"pivotal_trial", "safety"}


def test_retraction_of_a_relied_on_trial():
    st, rules = status(study("1", date="2015-01-01", retracted=True, n_enrolled=40))
    assert (st, rules) == ("review_safety", ["retraction"])


def test_retracted_trial_no_longer_counts_toward_size():
    trials = [study("1", date="2019-01-01", n_enrolled=300, duration_weeks=8.0),
              study("2", date="2020-01-01", n_enrolled=300, duration_weeks=8.0, retracted=True)]
    c = evaluate(trials, RULES).get("fibromyalgia")
    assert c.cumulative_n == 300


def test_benefit_and_no_benefit_together_are_a_conflict():
    st, rules = status(study("1", date="2020-01-01"), study("2", date="2024-01-01", result_direction="null"))
    assert st == "review_conflicting"


def test_one_condition_moves_others_stay():
    report = evaluate([study("1"), study("2", condition="crohns_disease", n_enrolled=20)], RULES)
    assert report.get("fibromyalgia").status == "review_benefit"
    assert report.get("crohns_disease").status == "unchanged"
    assert report.should_change
    d = report.to_dict()
    assert set(d) >= {"should_change", "conditions"}
    assert set(d["conditions"][0]) >= {"condition", "status", "rules_fired", "studies", "cumulative_n",
                                       "largest_trial_n"}


def test_why_not_in_plain_words():
    s = study("1", blinding="none", control="none", design="single_arm", randomized=False, n_enrolled=12,
              duration_weeks=8.0)
    text = why_not(s, RULES)
    assert "open-label" in text and "n = 12 (< 100)" in text and "8 weeks of treatment (< 12)" in text
    assert "no control group" in text
    assert "protocol, no results yet" in why_not(study("2", design="protocol", result_direction="not_applicable"), RULES)


def test_moved_since_last_digest():
    report = evaluate([study("1")], RULES)
    assert moved({}, report) == [{"condition": "fibromyalgia", "from": "unchanged", "to": "review_benefit"}]
    assert moved({"fibromyalgia": {"status": "review_benefit"}}, report) == []


def test_why_not_for_reviews_and_old_studies():
    sr = dict(design="systematic_review", randomized=None, blinding=None, control=None, duration_weeks=None,
              n_enrolled=None)
    assert "pooled non-randomized studies" in why_not(study("1", n_studies=9, pooled_rcts=False, **sr), RULES)
    assert "does not say it pooled randomized trials" in why_not(study("2", n_studies=22, **sr), RULES)
    assert "2 trials (< 4)" in why_not(study("3", n_studies=2, pooled_rcts=True, **sr), RULES)
    assert "no conclusion stated" in why_not(study("4", n_studies=2, pooled_rcts=True, result_direction=None, **sr), RULES)
    assert why_not(study("5", date="2012-01-01", n_enrolled=20), RULES).startswith("before the verdict of 2018")
