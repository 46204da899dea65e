"""Unit tests of the assessor's hard cases (invented abstracts) and a whole-corpus target check."""
from __future__ import annotations

from pathlib import Path

import pytest

from ldn_monitor import assess as A
from ldn_monitor.assess import ASSESSOR_VERSION, assess, assess_text, assessed_text
from ldn_monitor.assess_numbers import find_numbers, parse_number, words_to_int
from ldn_monitor.records import LABEL_FIELDS, AbstractSection, Article

DEV = Path(__file__).parents[1].parent / "shared/corpus/dev.jsonl"


def check_evidence(title: str, abstract: str, a) -> None:
    text = assessed_text(title, abstract)
    fields = {e.field for e in a.evidence}
    for name in LABEL_FIELDS:
        if getattr(a, name) is not None:
            assert name in fields, f"{name} has no evidence"
    for e in a.evidence:
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start:e.end] == e.text


def run(title: str, abstract: str, **kw):
    a = assess_text(title, abstract, **kw)
    check_evidence(title, abstract, a)
    return a


# ------------------------------------------------------------------ number grammar
@pytest.mark.parametrize(
    "phrase, value",
    [
        ("Thirty-one", 31), ("one hundred and twenty", 120), ("two thousand five hundred", 2500),
        ("Ninety-nine", 99), ("twelve", 12), ("three thousand and four", 3004), ("forty", 40),
    ],
)
def test_words_to_int(phrase, value):
    assert words_to_int(phrase) == value


def test_find_numbers_groups_and_decimals():
    nums = [(n.value, n.text) for n in find_numbers("collected 20 921 prescriptions, N = 1,234 and 4.5 mg; 50·6 years")]
    assert (20921.0, "20 921") in nums
    assert (1234.0, "1,234") in nums
    assert (4.5, "4.5") in nums
    assert (50.6, "50·6") in nums
    assert parse_number("Sixty-seven") == 67


# ------------------------------------------------------------------ counts and distractors
def test_number_words_and_distractors():
    title = "Low-dose naltrexone in fibromyalgia: a randomized, double-blind, placebo-controlled trial"
    abstract = (
        "METHODS: Women aged 18-65 years were screened (n = 212). Thirty-one women with a mean age of 48 years "
        "were randomized to 4.5 mg naltrexone or placebo for 12 weeks. "
        "RESULTS: Pain fell by 30% with naltrexone versus 12% with placebo (p = 0.01). Twenty-eight women completed the study."
    )
    a = run(title, abstract)
    assert a.n_enrolled == 31
    assert a.n_analyzed == 28
    assert a.duration_weeks == 12
    assert a.design == "rct_parallel" and a.randomized is True
    assert a.blinding == "double" and a.control == "placebo"
    assert a.result_direction == "favorable"
    assert a.is_ldn is True


def test_sentences_do_not_end_at_abbreviations():
    doc = A._build_doc("T", "Smith et al. 2019 found less pain. Pain fell vs. Placebo at Fig. 2 in week 8. We enrolled 30.",
                       (), (), (), ())
    assert [s.text for s in doc.sentences[1:]] == [
        "Smith et al. 2019 found less pain.", "Pain fell vs. Placebo at Fig. 2 in week 8.", "We enrolled 30."]


def test_screened_is_not_enrolled_and_n_equals():
    title = "Low-dose naltrexone for long covid: a randomised placebo-controlled trial"
    abstract = (
        "Methods: 158 people were screened for eligibility and 99 patients underwent random assignment: "
        "n=49 to low-dose naltrexone and n=50 to placebo, for 16 weeks. Results: Fatigue did not differ between groups (p = 0.41)."
    )
    a = run(title, abstract)
    assert a.n_enrolled == 99
    assert a.result_direction == "null"


def test_arm_sizes_sum_in_protocol():
    title = "Low-dose naltrexone for post-COVID fatigue: protocol for a randomised, double-blind trial"
    abstract = (
        "Methods and analysis: This randomised, double-blind, placebo-controlled trial will enrol adults with fatigue. "
        "Randomisation will assign participants to a placebo arm (n=60) or an LDN arm (n=60). "
        "Participants will take 4.5 mg daily for 12 weeks."
    )
    a = run(title, abstract)
    assert a.design == "protocol"
    assert a.n_enrolled == 120
    assert a.result_direction == "not_applicable"
    assert a.randomized is True and a.blinding == "double" and a.control == "placebo"
    assert "protocol, no results yet" in a.limitations


def test_crossover_n_is_participants_not_periods():
    title = "Low-dose naltrexone in multiple sclerosis fatigue"
    abstract = (
        "Methods: In this randomized, double-blind, placebo-controlled crossover trial, twenty-four patients received "
        "4.5 mg naltrexone and placebo in two 8-week periods separated by a 2-week washout, giving 48 treatment periods. "
        "Results: Fatigue scores improved significantly on naltrexone compared with placebo (P = 0.02)."
    )
    a = run(title, abstract)
    assert a.design == "rct_crossover"
    assert a.n_enrolled == 24
    assert a.duration_weeks == 8


def test_months_and_days_converted():
    a = run("Low dose naltrexone in Crohn's disease", "We enrolled 20 patients in an open-label pilot trial; they took LDN 4.5 mg nightly for 3 months. Disease activity improved significantly (P < 0.01).")
    assert a.duration_weeks == pytest.approx(12.99, abs=0.01)
    assert a.design == "single_arm" and a.blinding == "none" and a.control == "none" and a.randomized is False
    b = run("Very low dose naltrexone in opioid detoxification: a randomized trial", "In this double-blind randomized trial, 60 men were assigned to naltrexone 0.25 mg or placebo daily for 10 days.")
    assert b.duration_weeks == pytest.approx(1.43, abs=0.01)


# ------------------------------------------------------------------ dose traps
def test_standard_dose_alcohol_is_not_ldn():
    a = run("Naltrexone in alcohol dependence", "Seventy alcohol-dependent men took part in a 12-week, placebo-controlled, double-blind trial of naltrexone 50 mg/d. Relapse was significantly lower with naltrexone.")
    assert a.is_ldn is False
    assert "not low-dose naltrexone" in a.limitations
    assert a.design == "rct_parallel" and a.randomized is None  # never says randomised


def test_low_dose_25_mg_is_not_ldn():
    a = run("Naltrexone for weight gain after smoking cessation", "Smokers (N = 172) were randomized to low dose naltrexone (25 mg) or placebo for 27 weeks. Abstinence did not differ (p = .43).")
    assert a.is_ldn is False
    assert a.n_enrolled == 172


def test_ultra_low_dose_add_on_is_not_ldn():
    a = run("Ultralow-dose naltrexone added to oxycodone: a randomized controlled trial", "Patients were randomized to oxycodone or oxycodone plus naltrexone 1 µg twice daily for 3 weeks. Analgesia was significantly greater with the combination (P = .003).")
    assert a.is_ldn is False


def test_bupropion_combination_is_not_ldn():
    a = run("Naltrexone-bupropion for obesity", "Adults with obesity received naltrexone-bupropion for 56 weeks. Weight loss was significantly greater than with placebo.")
    assert a.is_ldn is False


@pytest.mark.parametrize("dose", ["4.5 mg", "1mg b.i.d.", "3 mg at night", "0.1 mg/kg"])
def test_low_doses_are_ldn(dose):
    a = run("Naltrexone in chronic pain", f"Twelve patients took naltrexone {dose} daily in an open-label study for 8 weeks; pain improved.")
    assert a.is_ldn is True


def test_dose_not_stated_outside_addiction_is_unknown():
    a = run("Trial of naltrexone for Gulf War illness", "This study will test whether naltrexone helps ill veterans. The study will be double-blinded and every veteran will spend three months on each treatment.")
    assert a.is_ldn is None
    assert a.design == "protocol"


# ------------------------------------------------------------------ design and negation
def test_review_mentioning_trials_is_review_not_rct():
    title = "Low-dose naltrexone for fibromyalgia: a systematic review"
    abstract = (
        "Methods: We searched PubMed, Embase and CENTRAL for randomized controlled trials of low-dose naltrexone. "
        "Results: Six studies were included (four randomized trials, two case series). Low-dose naltrexone reduced pain in most studies."
    )
    a = run(title, abstract)
    assert a.design == "systematic_review"
    assert a.n_studies == 6
    assert a.randomized is None and a.blinding is None
    assert a.is_rct is False


def test_meta_analysis_with_pooled_estimates():
    a = run("Low-dose naltrexone for pain", "Methods: We systematically searched MEDLINE and Embase. Results: Five RCTs were included. The pooled SMD was -0.61 (95% CI -1.14 to -0.08).")
    assert a.design == "meta_analysis"


def test_background_randomized_trials_do_not_make_an_rct():
    a = run(
        "Low dose naltrexone in multiple sclerosis: a register-based before-and-after study",
        "Some small randomized trials suggest that LDN may benefit MS. Using the national prescription database, we studied 341 patients "
        "two years before and after their first LDN prescription. Use of other MS drugs did not change.",
    )
    assert a.design == "observational"
    assert a.randomized is False
    assert a.n_enrolled == 341
    assert a.result_direction == "null"


def test_non_randomized_negation():
    a = run("Low-dose naltrexone versus usual care in fibromyalgia", "In this non-randomized, open-label controlled study, 40 patients chose LDN 4.5 mg or usual care for 12 weeks. Pain improved more with LDN (p = 0.03).")
    assert a.randomized is False
    assert a.design == "nonrandomized_controlled"
    assert a.blinding == "none"
    assert a.control == "usual_care"


def test_open_label_extension_does_not_unblind():
    a = run("Naltrexone in paediatric Crohn's disease", "Fourteen children were randomized to placebo or naltrexone 0.1 mg/kg for 8 weeks, after which 8 further weeks of naltrexone were given open-labeled. Disease activity fell significantly (P = 0.005).")
    assert a.blinding is None
    assert a.design == "rct_parallel"
    assert a.duration_weeks == 8


def test_masking_of_four_parties_is_triple():
    a = run("Low-dose naltrexone versus placebo: a randomised trial", "Methods: Participants were randomly allocated to LDN 6 mg or an identical placebo. Allocation was concealed from participants, investigators, outcome assessors and statisticians.")
    assert a.blinding == "triple"
    assert any("blinding method" in q for q in a.quality_items)


def test_case_report_and_series():
    r = run("Low-dose naltrexone for Hailey-Hailey disease", "We describe a 52-year-old woman with recalcitrant disease. After LDN 3 mg nightly her lesions cleared.")
    assert r.design == "case_report" and r.n_enrolled == 1 and r.control == "none" and r.blinding == "none"
    s = run("Low-dose naltrexone in lichen planopilaris: a case series", "We report a case series of five patients treated with naltrexone 3 mg daily. All patients improved.")
    assert s.design == "case_series" and s.n_enrolled == 5


def test_animal_study():
    a = run("Naltrexone and corneal healing in diabetic rats", "Diabetes was induced in rats, which were given naltrexone 30 mg/kg or vehicle. Healing was faster with naltrexone.")
    assert a.design == "animal_or_in_vitro"
    assert a.is_ldn is False


def test_narrative_review_without_methods():
    a = run("Low-dose naltrexone: an overview", "Low-dose naltrexone modulates glial cells. This review summarises current evidence on its clinical use.")
    assert a.design == "narrative_review"
    assert a.result_direction == "not_applicable"


# ------------------------------------------------------------------ harm
def test_serious_harm_negated_and_positive():
    ok = run("Low-dose naltrexone in MS: a randomized trial", "Results: 40 patients were randomized. There were no serious adverse events.")
    assert ok.serious_harm is False
    bad = run("Low-dose naltrexone in MS: a randomized trial", "Results: 40 patients were randomized. Two serious adverse events occurred in the naltrexone group, and one patient was hospitalized.")
    assert bad.serious_harm is True


# ------------------------------------------------------------------ quality and entry points
def test_quality_items_and_limitations():
    a = run("Low dose naltrexone for Crohn's disease", "Methods: We enrolled 12 patients in an open-label pilot study of LDN 4.5 mg for 8 weeks. Results: Symptoms improved.")
    assert "open-label" in a.limitations
    assert "no control group" in a.limitations
    assert "n = 12" in a.limitations
    assert "8 weeks of treatment" in a.limitations
    assert a.quality_score == len(a.quality_items)


def test_assess_article_uses_sections_and_version():
    art = Article(
        pmid="1",
        title="Low-dose naltrexone in fibromyalgia: a randomized, double-blind, placebo-controlled trial",
        abstract=(
            AbstractSection("To test LDN.", "OBJECTIVE", "OBJECTIVE"),
            AbstractSection("Sixty women were randomized to LDN 4.5 mg or placebo for 12 weeks.", "METHODS", "METHODS"),
            AbstractSection("Pain did not differ between groups (p = 0.6).", "RESULTS", "RESULTS"),
        ),
    )
    a = assess(art)
    assert a.pmid == "1" and a.assessor_version == ASSESSOR_VERSION
    assert a.n_enrolled == 60 and a.result_direction == "null"
    check_evidence(art.title, art.abstract_text, a)


def test_empty_record_does_not_crash():
    a = assess_text("", "")
    assert a.design in ("other", "narrative_review")


# ------------------------------------------------------------------ whole corpus
@pytest.mark.skipif(not DEV.exists(), reason="shared dev corpus not present")
def test_dev_corpus_meets_targets_and_every_field_has_evidence():
    from ldn_monitor.evaluate import assess_record, evaluate, load_jsonl

    gold = load_jsonl(DEV)
    preds = []
    for g in gold:
        a = assess_text(g.get("title") or "", g.get("abstract") or "", publication_types=tuple(g.get("publication_types") or ()),
                        registry_ids=tuple(g.get("nct_ids") or ()))
        check_evidence(g.get("title") or "", g.get("abstract") or "", a)
        preds.append(assess_record(g))
    report = evaluate(gold, preds)
    assert report.evidence_missing == 0
    failed = [(name, v, t) for name, v, t, ok in report.target_checks() if not ok]
    assert not failed, failed


# --- reviews: did they pool randomized trials? (drives the verdict's pooled-evidence rule)

@pytest.mark.parametrize("abstract,expected", [
    ("METHODS: We searched four databases. RESULTS: Six randomized controlled trials (412 patients) were "
     "included. Low-dose naltrexone reduced pain versus placebo.", True),
    ("RESULTS: Inclusion criteria were met by five observational cohort studies (n=310). Symptoms improved.", False),
    ("RESULTS: Our search found no randomized controlled trials. Three case series were included.", False),
    ("METHODS: Studies were eligible if they were randomized trials or cohort studies. RESULTS: Seven "
     "studies were included, all of them retrospective chart reviews.", False),
    ("RESULTS: Ten articles were included (six case reports, three case series and one RCT).", False),
    ("RESULTS: Twelve studies were included. Low-dose naltrexone appeared helpful.", None),
])
def test_review_pooled_rcts(abstract, expected):
    a = assess_text("Low-dose naltrexone for chronic pain: a systematic review and meta-analysis", abstract)
    assert a.design in ("systematic_review", "meta_analysis")
    assert a.pooled_rcts is expected
    if expected is not None:
        ev = a.evidence_for("pooled_rcts")
        assert ev and ev in assessed_text("Low-dose naltrexone for chronic pain: a systematic review and meta-analysis", abstract)


def test_review_of_rcts_in_the_title():
    a = assess_text("Low-dose naltrexone in fibromyalgia: a meta-analysis of randomized controlled trials",
                    "RESULTS: Four trials with 251 participants were pooled.")
    assert a.pooled_rcts is True


def test_significant_primary_outcome_decides_over_null_secondaries():
    """A named primary outcome that differs (here only numbers and a CI) is the result, whatever the
    secondary outcomes did; the conclusion gives the direction."""
    a = assess_text(
        "Low-dose naltrexone for post-viral fatigue: a randomised crossover trial",
        "Methods: Thirty adults received LDN 4.5 mg and placebo for 6 weeks each. The primary outcome was the "
        "Fatigue Severity Scale (FSS). Results: Mean FSS was 4.9 after LDN and 5.4 after placebo (difference "
        "-0.5, 95% CI -0.9 to -0.03; p = 0.04). Sleep and mood scores did not differ (p = 0.41 and p = 0.62). "
        "Conclusions: LDN produced a modest reduction in fatigue.")
    assert a.result_direction == "favorable"
    assert "FSS was 4.9" in next(e.text for e in a.evidence if e.field == "result_direction")
    b = assess_text(
        "Low-dose naltrexone for post-viral fatigue: a randomised crossover trial",
        "Methods: Thirty adults received LDN 4.5 mg and placebo for 6 weeks each. The primary outcome was "
        "clinical response at week 6. Results: Clinical response was seen in 9 and 8 participants (p = 0.71). "
        "Conclusions: LDN did not improve fatigue.")
    assert b.result_direction == "null"


def test_titration_and_recruitment_periods_are_not_treatment_length():
    a = assess_text(
        "Open-label low-dose naltrexone in chronic fatigue: a pilot study",
        "Methods: Thirty adults were recruited over 9 months. LDN was titrated from 0.5 mg to 4.5 mg nightly over "
        "4 weeks, then continued to week 12. Results: Twenty-six completed treatment and fatigue improved (p = 0.01).")
    assert a.duration_weeks == 12


def test_review_control_comes_from_its_question_and_narrative_reviews_have_none():
    sr = assess_text(
        "Oral naltrexone for opioid dependence: a systematic review",
        "Objectives: To assess naltrexone compared with placebo, no medication or other treatments. Methods: We searched "
        "five databases for randomised trials. Results: Ten trials were included; in the placebo-controlled trials "
        "retention did not differ. Conclusions: The evidence does not support naltrexone.")
    assert sr.design == "systematic_review" and sr.control is None
    nr = assess_text(
        "Low-dose naltrexone in inflammatory bowel disease: mechanisms and evidence",
        "This narrative review summarises the mechanisms of low-dose naltrexone. Clinical data include an open-label "
        "pilot study and a placebo-controlled trial in adults with Crohn's disease.")
    assert nr.design == "narrative_review"
    assert (nr.randomized, nr.blinding, nr.control) == (None, None, None)
