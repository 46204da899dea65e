"""Property-based: generated abstracts and XML fragments never crash the parser or the assessor,
and the assessor's outputs stay in their vocabulary with spans that point at real text."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from ldn_monitor.assess import assess_text, assessed_text
from ldn_monitor.errors import BadResponse
from ldn_monitor.parse import parse_efetch
from ldn_monitor.records import BLINDINGS, CONTROLS, DESIGNS, DIRECTIONS

pytestmark = pytest.mark.faults

WORDS = st.sampled_from([
    "randomized", "randomised", "double-blind", "open-label", "placebo", "crossover", "naltrexone", "LDN",
    "low-dose", "4.5 mg", "50 mg", "weeks", "months", "days", "patients", "women", "Thirty-one", "n =", "n=",
    "p < 0.05", "95% CI", "(", ")", ":", ";", ",", ".", "\n\n", "METHODS:", "RESULTS:", "not", "no", "non-randomized",
    "systematic review", "meta-analysis", "protocol", "case report", "mice", "fibromyalgia", "Crohn's disease",
    "improved", "did not differ", "serious adverse events", "twelve", "1,200", "0", "-", "±", "µg", "≥", "×",
])
TEXT = st.lists(st.one_of(WORDS, st.text(max_size=12), st.integers(0, 100_000).map(str)), max_size=80).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=TEXT, abstract=TEXT)
def test_assessor_total_and_in_vocabulary(title, abstract):
    a = assess_text(title, abstract)
    assert a.design in DESIGNS
    assert a.blinding in BLINDINGS + (None,)
    assert a.control in CONTROLS + (None,)
    assert a.result_direction in DIRECTIONS + (None,)
    assert a.is_ldn in (True, False, None) and a.randomized in (True, False, None)
    for n in (a.n_enrolled, a.n_analyzed, a.n_studies):
        assert n is None or (isinstance(n, int) and n >= 0)
    assert a.duration_weeks is None or a.duration_weeks >= 0
    text = assessed_text(title, abstract)
    for ev in a.evidence:
        if ev.start >= 0:
            assert text[ev.start:ev.end] == ev.text


def _article_xml(title: str, abstract: str) -> bytes:
    root = etree.Element("PubmedArticleSet")
    art = etree.SubElement(root, "PubmedArticle")
    mc = etree.SubElement(art, "MedlineCitation", Status="MEDLINE", Owner="NLM")
    etree.SubElement(mc, "PMID", Version="1").text = "1"
    a = etree.SubElement(mc, "Article")
    etree.SubElement(a, "ArticleTitle").text = title
    ab = etree.SubElement(a, "Abstract")
    etree.SubElement(ab, "AbstractText").text = abstract
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


XML_SAFE = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200)


@settings(max_examples=200, deadline=None)
@given(title=XML_SAFE, abstract=XML_SAFE)
def test_parser_round_trips_generated_records(title, abstract):
    # Control characters (C0, DEL, C1) are dropped by design; everything else must survive.
    clean = lambda s: "".join(ch for ch in s if ch in "\t\n\r" or not (ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f)
                              and ch not in "\ufffe\uffff")
    body = _article_xml(clean(title), clean(abstract))
    (art,) = parse_efetch(body).articles
    assert art.pmid == "1"
    assert " ".join(art.title.split()) == " ".join(clean(title).split())


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=400), cut=st.integers(0, 2000))
def test_parser_fails_cleanly_on_junk_and_truncation(junk, cut):
    body = _article_xml("Low-dose naltrexone", "Randomized trial.")
    for data in (junk, body[:cut], body[:cut] + junk):
        try:
            result = parse_efetch(data)
        except BadResponse:
            continue
        assert all(a.pmid for a in result.articles)
