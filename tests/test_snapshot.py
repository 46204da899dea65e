"""ldn_monitor.snapshot and scripts/build_snapshot.py: corpus records → EFetch-shaped XML that
ldn_monitor.parse (and Biopython) read back unchanged."""
from __future__ import annotations

import importlib.util
import json
import os
import re
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from ldn_monitor.parse import iter_records, parse_efetch
from ldn_monitor.snapshot import (
    EDAT_END, EDAT_START, SYNTHETIC_PMID_MAX, SYNTHETIC_PMID_MIN, article_xml, corpus_to_snapshot,
    delete_citation, entrez_date_for, is_synthetic_pmid, load_corpus, nlm_category,
    parse_authors, record_to_snapshot_dir, split_abstract, synthetic_pmid, write_articleset,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path("/work/shared/corpus/dev.jsonl")
needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason=f"no corpus at {CORPUS}")


def norm(text) -> str:
    return " ".join((text or "").split())


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("snapshot")
    manifest = corpus_to_snapshot(corpus, out)
    return out, manifest


def _as_body(element) -> bytes:
    return b"<PubmedArticleSet>" + etree.tostring(element, encoding="UTF-8") + b"</PubmedArticleSet>"


# --------------------------------------------------------------------------- round trip

@needs_corpus
def test_every_corpus_record_round_trips_through_article_xml_and_the_parser(corpus):
    for i, record in enumerate(corpus):
        pmid = record["pmid"] or synthetic_pmid(record["record_id"])
        (a,) = parse_efetch(_as_body(article_xml(record, pmid, date(2024, 5, 6)))).articles
        rid = record["record_id"]
        assert a.pmid == pmid and a.version == 1, rid
        assert a.title == norm(record["title"]), rid
        assert norm(a.abstract_text) == norm(record["abstract"]), rid
        assert a.pub_year == record["year"], rid
        assert a.entrez_date == "2024-05-06", rid
        assert a.doi == (record["doi"] or None), rid
        ncts = [x for x in record["nct_ids"] if x.startswith("NCT")]
        assert list(a.registry_ids[:len(ncts)]) == ncts, rid
        in_text = set(re.findall(r"NCT\d{8}", (record["title"] or "") + record["abstract"]))
        assert set(a.registry_ids) == set(ncts) | in_text, rid
        if record["publication_types"]:
            assert list(a.publication_types) == record["publication_types"], rid
        assert a.journal == norm(record["journal"]), rid


@needs_corpus
def test_snapshot_file_parses_to_the_manifest(built, corpus):
    out, manifest = built
    articles = list(iter_records(out / "pubmed.xml"))
    assert [a.pmid for a in articles] == [row["pmid"] for row in manifest]
    assert [a.entrez_date for a in articles] == [row["entrez_date"] for row in manifest]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert len(manifest) == len(corpus)
    for row, record in zip(manifest, corpus):
        assert row["record_id"] == record["record_id"]
        assert row["synthetic_pmid"] == (record["pmid"] is None)
        if record["pmid"]:
            assert row["pmid"] == record["pmid"]  # real PMIDs are kept


@needs_corpus
def test_structured_abstracts_keep_their_sections(corpus):
    by_id = {r["record_id"]: r for r in corpus}
    (a,) = parse_efetch(_as_body(article_xml(by_id["A001"], "1", date(2020, 1, 1)))).articles
    assert [(s.label, s.category) for s in a.abstract] == [
        ("OBJECTIVE", "OBJECTIVE"), ("DESIGN", "METHODS"), ("PATIENTS", "METHODS"),
        ("INTERVENTIONS", "METHODS"), ("OUTCOME MEASURES", "METHODS"), ("RESULTS", "RESULTS"),
        ("CONCLUSIONS", "CONCLUSIONS")]


def test_split_abstract():
    assert split_abstract("Plain text.\n\nSecond paragraph.") == [
        (None, None, "Plain text.\n\nSecond paragraph.")]
    assert split_abstract("BACKGROUND: Why.\nMETHODS: How.\n\nMore how.\n\nCONCLUSIONS AND "
                          "RELEVANCE: So.") == [
        ("BACKGROUND", "BACKGROUND", "Why."), ("METHODS", "METHODS", "How.\n\nMore how."),
        ("CONCLUSIONS AND RELEVANCE", "CONCLUSIONS", "So.")]
    assert split_abstract("Lead-in.\n\nResults: Good.") == [
        (None, None, "Lead-in."), ("Results", "RESULTS", "Good.")]
    # Not headings: a colon mid-line, an ordinary word, a ratio.
    for text in ("We asked: why?", "Note: nothing here.", "Ratio 2:1 favoured LDN."):
        assert split_abstract(text) == [(None, None, text)]
    assert split_abstract("") == [] and split_abstract(None) == []
    assert nlm_category("MAIN OUTCOME MEASURES") == "METHODS"
    assert nlm_category("Purpose of review") == "OBJECTIVE"
    assert nlm_category("CASE PRESENTATION") == "UNASSIGNED"


@pytest.mark.parametrize("text, expected", [
    ("Younger J, Mackey S.", ["Younger J", "Mackey S"]),
    ("Karin Due Bruun, Robin Christensen", ["Bruun KD", "Christensen R"]),
    ("O'Kelly, Brendan; Vidal, Louise", ["O'Kelly B", "Vidal L"]),
    ("Rösner, S., Hackl-Herrwerth, A. & Soyka, M.", ["Rösner S", "Hackl-Herrwerth A", "Soyka M"]),
    ("Parker Claire E, Segal Dan", ["Parker CE", "Segal D"]),
    ("Yang J, Abu Dabrh AM", ["Yang J", "Abu Dabrh AM"]),
    ("K.L. Brewer, A. Mainhart", ["Brewer KL", "Mainhart A"]),
    ("J R Volpicelli et al.", ["Volpicelli JR"]),
    ("Karlo Toljan and Bruce Vrooman", ["Toljan K", "Vrooman B"]),
    (None, []),
])
def test_parse_authors(text, expected):
    got = [a.get("collective") or f"{a['last']} {a['initials']}".strip() for a in parse_authors(text)]
    assert got == expected


def test_odd_records_still_make_valid_xml():
    record = {"record_id": "Z9", "title": None, "authors": None, "journal": None, "year": None,
              "doi": None, "pmid": None, "publication_types": None, "nct_ids": ["NCT01234567",
              "EudraCT 2019-000702-30"], "abstract": "p < 0.05 & more\x0b; 低剂量; Низкие дозы"}
    (a,) = parse_efetch(_as_body(article_xml(record, "99250009", date(2022, 2, 2), version=2))).articles
    assert (a.pmid, a.version, a.title, a.pub_year, a.journal) == ("99250009", 2, "", None, "")
    assert a.abstract_text == "p < 0.05 & more; 低剂量; Низкие дозы"
    assert a.registry_ids == ("NCT01234567",) and a.publication_types == ("Journal Article",)


# --------------------------------------------------------------------------- determinism, ids, dates

@needs_corpus
def test_build_is_byte_deterministic(corpus, built, tmp_path):
    out, _ = built
    corpus_to_snapshot(corpus, tmp_path)
    for name in ("pubmed.xml", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


@needs_corpus
def test_committed_snapshot_is_current(built):
    # data/snapshot is generated; if this fails, rerun scripts/build_snapshot.py and commit.
    committed = ROOT / "data" / "snapshot"
    if not (committed / "pubmed.xml").exists():
        pytest.skip("data/snapshot not built")
    out, _ = built
    for name in ("pubmed.xml", "manifest.json"):
        assert (committed / name).read_bytes() == (out / name).read_bytes(), name


@needs_corpus
def test_synthetic_pmids(built):
    _, manifest = built
    synthetic = [row for row in manifest if row["synthetic_pmid"]]
    assert synthetic and len({row["pmid"] for row in manifest}) == len(manifest)
    for row in manifest:
        assert is_synthetic_pmid(row["pmid"]) == row["synthetic_pmid"]
    assert synthetic_pmid("A002") == "99000002" and synthetic_pmid("B031") == "99010031"
    odd = synthetic_pmid("record-xyz")
    assert odd == synthetic_pmid("record-xyz")
    assert SYNTHETIC_PMID_MIN <= int(odd) <= SYNTHETIC_PMID_MAX
    assert not is_synthetic_pmid("38258677") and not is_synthetic_pmid(None)


@needs_corpus
def test_entrez_dates_are_spread_and_follow_the_rule(built, corpus):
    _, manifest = built
    edats = [date.fromisoformat(row["entrez_date"]) for row in manifest]
    assert len({d.year for d in edats}) >= 10  # windows over time select different records
    assert len(set(edats)) >= len(edats) - 3
    assert max(edats) <= EDAT_END
    for d, record in zip(edats, corpus):
        if isinstance(record["year"], int):
            assert d.year == record["year"]
        else:
            assert EDAT_START <= d <= EDAT_END
        assert entrez_date_for(record) == d


# --------------------------------------------------------------------------- other consumers

@needs_corpus
def test_snapshot_validates_against_the_pubmed_dtd(built):
    import Bio.Entrez

    # The DTD Biopython ships, read from disk: no network.
    dtd = etree.DTD(os.path.join(os.path.dirname(Bio.Entrez.__file__), "DTDs",
                                 "pubmed_250101.dtd"))
    out, _ = built
    doc = etree.parse(str(out / "pubmed.xml"),
                      etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    assert dtd.validate(doc), dtd.error_log.filter_from_errors()[:5]


@needs_corpus
def test_biopython_reads_the_snapshot(built, monkeypatch):
    from Bio import Entrez
    import Bio.Entrez.Parser as entrez_parser

    monkeypatch.setattr(entrez_parser, "urlopen", lambda *a, **k: pytest.fail("DTD download"))
    out, manifest = built
    with open(out / "pubmed.xml", "rb") as handle:
        records = Entrez.read(handle)
    assert [str(p["MedlineCitation"]["PMID"]) for p in records["PubmedArticle"]] == [
        row["pmid"] for row in manifest]


def test_record_to_snapshot_dir_for_a_custom_trial(tmp_path):
    big_trial = {"record_id": "T1", "pmid": None, "title": "Low-dose naltrexone for fibromyalgia: "
                 "a randomised, double-blind, placebo-controlled trial in 1,200 patients",
                 "authors": "Doe J, Roe R.", "journal": "Lancet", "year": 2026, "doi": "10.1/t1",
                 "publication_types": ["Randomized Controlled Trial"], "nct_ids": ["NCT09999999"],
                 "abstract": "BACKGROUND: Pain.\n\nMETHODS: 1200 adults were randomly assigned."}
    revised = {"record_id": "T2", "pmid": "40000001", "title": "Revised", "abstract": "x",
               "year": 2025, "version": 2, "entrez_date": "2025-12-30"}
    manifest = record_to_snapshot_dir([big_trial, revised], tmp_path, start_date=date(2026, 3, 1))
    assert manifest == [
        {"pmid": synthetic_pmid("T1"), "record_id": "T1", "entrez_date": "2026-03-01",
         "synthetic_pmid": True},
        {"pmid": "40000001", "record_id": "T2", "entrez_date": "2025-12-30",
         "synthetic_pmid": False}]
    first, second = iter_records(tmp_path / "pubmed.xml")
    assert first.registry_ids == ("NCT09999999",) and first.authors == ("Doe J", "Roe R")
    assert [s.category for s in first.abstract] == ["BACKGROUND", "METHODS"]
    assert (second.pmid, second.version) == ("40000001", 2)
    # A second file next to the first (the replay server reads every *.xml), with a deletion.
    record_to_snapshot_dir([{"record_id": "T3", "title": "Later", "abstract": "y"}], tmp_path,
                           start_date="2026-04-01", filename="pubmed-2.xml")
    assert (tmp_path / "pubmed.xml").exists() and (tmp_path / "pubmed-2.manifest.json").exists()
    write_articleset([delete_citation(["40000001"])], tmp_path / "pubmed-3.xml")
    deleted = []
    assert list(iter_records(tmp_path / "pubmed-3.xml", on_deleted=deleted.extend)) == []
    assert deleted == ["40000001"]


@needs_corpus
def test_build_script_writes_snapshot_and_readme(tmp_path, corpus, built):
    spec = importlib.util.spec_from_file_location("build_snapshot",
                                                  ROOT / "scripts" / "build_snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--corpus", str(CORPUS), "--out", str(tmp_path)]) == 0
    out, manifest = built
    assert (tmp_path / "pubmed.xml").read_bytes() == (out / "pubmed.xml").read_bytes()
    readme = (tmp_path / "README.md").read_text()
    assert "paraphrase" in readme.lower() and "EDAT" in readme
    for row in manifest:
        assert (f"| {row['pmid']} | {row['record_id']} |" in readme) == row["synthetic_pmid"]
