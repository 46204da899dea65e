"""Digest rendering: golden files, answer-first subjects, hostile input, safe links."""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path


from ldn_monitor.digest import render
from ldn_monitor.records import DesignAssessment, Evidence, Study
from ldn_monitor.settings import load_rules
from ldn_monitor.verdict import evaluate, moved

RULES = load_rules()
GOLDEN = Path(__file__).parent / "golden"
WHEN = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def study(pmid, title, date="2024-06-01", doi="10.1000/xyz", **kw):
    a = dict(is_ldn=True, design="rct_parallel", randomized=True, blinding="double", control="placebo",
             n_enrolled=120, duration_weeks=24.0, condition="fibromyalgia", result_direction="favorable",
             quality_score=5, limitations=())
    a.update(kw)
    ev = (Evidence("n_enrolled", f"{a['n_enrolled']} adults", 0, 0), Evidence("design", "randomized double-blind trial", 0, 0))
    return Study(pmid=pmid, title=title, assessment=DesignAssessment(pmid=pmid, evidence=ev, **a), entrez_date=date,
                 doi=doi)


def corpus():
    return [
        study("31000001", "Low-dose naltrexone for fibromyalgia: a 24-week randomized trial"),
        study("31000002", "Open-label LDN in Crohn's disease", condition="crohns_disease", design="single_arm",
              randomized=False, blinding="none", control="none", n_enrolled=12, duration_weeks=8.0,
              limitations=("open-label", "n = 12", "8 weeks of treatment", "no control group")),
        study("31000003", "LDN for long COVID fatigue: protocol", condition="long_covid", design="protocol",
              randomized=True, n_enrolled=160, duration_weeks=None, result_direction="not_applicable"),
        study("31000004", "Naltrexone 50 mg for alcohol dependence", condition="alcohol_use_disorder", is_ldn=False,
              n_enrolled=300),
    ]


def rendered(studies, new=None, previous=None):
    report = evaluate(studies, RULES)
    by_id = {s.pmid: s for s in studies}
    new = [s.pmid for s in studies] if new is None else new
    return render(report, by_id, new, moved(previous or {}, report), RULES, generated_at=WHEN,
                  window="2026/11/18 to 2026/11/25", chart_png=b"\x89PNG fake")


def _golden(name: str, content: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8")
    assert content == path.read_text(encoding="utf-8"), f"{name} differs; UPDATE_GOLDEN=1 to accept"


def test_golden_digest():
    d = rendered(corpus())
    _golden("digest.txt", d.text)
    _golden("digest.html", d.html)


def test_subject_says_the_answer_first():
    d = rendered(corpus())
    assert d.subject == "LDN evidence: review the verdict for fibromyalgia (pivotal trial)"
    quiet = [s for s in corpus() if s.pmid != "31000001"]
    assert rendered(quiet).subject == "LDN evidence: verdict unchanged (3 new studies)"


def test_text_and_html_carry_the_same_content():
    d = rendered(corpus())
    for needle in ("31000001", "31000002", "31000003", "31000004", "pivotal trial", "open-label",
                   "n = 12 (&lt; 100)", "UPCOMING", "crohns disease", "abstracts", "copyright"):
        plain = needle.replace("&lt;", "<")
        assert plain.lower() in d.text.lower(), needle
        assert needle.lower() in d.html.lower() or plain.lower() in d.html.lower(), needle
    assert 'src="cid:evidence-map"' in d.html and d.images["evidence-map"].startswith(b"\x89PNG")


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.hrefs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [v for k, v in attrs if k == "href"]

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_input_is_escaped_and_links_stay_on_known_hosts():
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> — Тест 低剂量纳曲酮 ' + "A" * 10_000
    s = study("31000009", evil, doi='10.1/"><script>x</script>', condition="fibromyalgia")
    bad_pmid = study("javascript:alert(1)", "pmid that is not a number", n_enrolled=5)
    d = rendered([s, bad_pmid])
    p = _Collector()
    p.feed(d.html)
    assert p.tags.count("script") == 0
    assert p.tags.count("img") == 1  # only the evidence map; the title's <img> stayed text
    assert all(re.match(r"https://(pubmed\.ncbi\.nlm\.nih\.gov|doi\.org|clinicaltrials\.gov)/", h) for h in p.hrefs), p.hrefs
    assert "&lt;script&gt;" in d.html and "Тест 低剂量纳曲酮" in d.html and "Тест 低剂量纳曲酮" in d.text
    assert "onerror=alert" not in d.html.replace("onerror=alert(1)&gt;", "")
    assert len(d.html) < 60_000  # a 10,000-character title is clipped for display


def test_no_studies_at_all():
    d = rendered([], new=[])
    assert d.subject == "LDN evidence: verdict unchanged (0 new studies)"
    assert "(none)" in d.text


def test_changes_since_last_digest_are_listed():
    d = rendered(corpus(), previous={"fibromyalgia": {"status": "unchanged"}})
    assert "fibromyalgia: unchanged -> review_benefit".replace("_", " ") in d.text


def test_registry_sections_render_and_escape():
    sig = {"kind": "publication_bias", "label": "completed ≥ 12 months ago with no linked publication",
           "nct_id": "NCT99999901", "condition": "chronic_low_back_pain", "title": "<b>LDN</b> for back pain",
           "status": "COMPLETED", "enrollment_text": "180 ACTUAL", "months_since_completion": 26}
    up = {"fibromyalgia": [{"nct_id": "NCT99999902", "title": "LDN vs placebo", "status_words": "recruiting",
                            "design": "protocol", "blinding": "double", "control": "placebo",
                            "enrollment_text": "320 ESTIMATED", "has_results": False}]}
    report = evaluate(corpus(), RULES)
    d = render(report, {s.pmid: s for s in corpus()}, [], [], RULES, generated_at=WHEN,
               registry_signals=[sig], registry_upcoming=up)
    for part in (d.text, d.html):
        assert "NCT99999901" in part and "26 months ago" in part and "publication-bias" in part
        assert "NCT99999902" in part and "320 ESTIMATED" in part
    assert "&lt;b&gt;LDN&lt;/b&gt;" in d.html and "https://clinicaltrials.gov/study/NCT99999902" in d.html
