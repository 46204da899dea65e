"""Helpers for tests that talk to the E-utilities replay server.

- :func:`article_xml` / :func:`write_articles` make minimal PubmedArticle records with a History entrez
  date (the replay server indexes EDAT from it), so a test controls dates and counts exactly.
- :func:`copy_samples` puts the real EFetch samples (shared/eutils-samples/pubmed*.xml) in a snapshot dir.
- :func:`fast_settings` gives Settings that make retries and pacing cost milliseconds.
- :class:`FakeClock` is a monotonic clock that only moves when its ``sleep`` is called.

Usage::

    with ReplayServer(tmp_path) as server:
        client = PubMedClient(fast_settings(server.url), sleep=clock.sleep, clock=clock)
"""
from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable, Optional
from xml.sax.saxutils import escape

from ldn_monitor.settings import Settings


def _samples_dir() -> Path:
    # shared/ sits beside the repository, on a developer's machine and in CI alike.
    here = Path(__file__).resolve()
    for base in (here.parents[1].parent, Path("/work")):
        d = base / "shared" / "eutils-samples"
        if d.is_dir():
            return d
    return here.parents[1].parent / "shared" / "eutils-samples"


SAMPLES = _samples_dir()

# The real sample records and their Entrez dates (History PubStatus="entrez").
SAMPLE_EDATS = {
    "9997": "1976-09-28",
    "12091962": "1990-04-01",
    "11700088": "2001-11-09",
    "11748933": "2001-12-26",
    "27797938": "2016-11-01",
    "28775130": "2017-08-05",
    "29963580": "2018-07-03",
    "30108519": "2018-08-16",
}

DOCTYPE = ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
           '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">')


def article_xml(pmid, edat: str | date = "2024/01/15", title: Optional[str] = None, version: int = 1) -> str:
    """A minimal but DTD-shaped PubmedArticle with entrez and pubmed History dates."""
    d = edat if isinstance(edat, date) else date(*map(int, str(edat).replace("-", "/").split("/")))
    title = escape(title or f"Low-dose naltrexone test record {pmid}")
    hist = "".join(
        f'<PubMedPubDate PubStatus="{s}"><Year>{d.year}</Year><Month>{d.month}</Month><Day>{d.day}</Day>'
        f"<Hour>6</Hour><Minute>0</Minute></PubMedPubDate>"
        for s in ("pubmed", "entrez")
    )
    return (
        f'<PubmedArticle><MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM">'
        f'<PMID Version="{version}">{pmid}</PMID>'
        f'<Article PubModel="Print"><Journal><ISSN IssnType="Print">0000-0000</ISSN>'
        f'<JournalIssue CitedMedium="Print"><PubDate><Year>{d.year}</Year></PubDate></JournalIssue>'
        f"<Title>Journal of Tests</Title><ISOAbbreviation>J Tests</ISOAbbreviation></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle><Abstract><AbstractText>Abstract of {pmid}.</AbstractText></Abstract>"
        f"<Language>eng</Language><PublicationTypeList><PublicationType UI=\"D016428\">Journal Article"
        f"</PublicationType></PublicationTypeList></Article>"
        f"<MedlineJournalInfo><Country>United States</Country><MedlineTA>J Tests</MedlineTA>"
        f"<NlmUniqueID>0000000</NlmUniqueID></MedlineJournalInfo></MedlineCitation>"
        f"<PubmedData><History>{hist}</History><PublicationStatus>ppublish</PublicationStatus>"
        f'<ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>'
    )


def write_articles(path: Path, articles: Iterable[str], deleted: Iterable = ()) -> Path:
    """Write a PubmedArticleSet file (optionally ending in a DeleteCitation)."""
    body = "\n".join(articles)
    dels = list(deleted)
    if dels:
        body += "\n<DeleteCitation>" + "".join(f'<PMID Version="1">{p}</PMID>' for p in dels) + "</DeleteCitation>"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<?xml version="1.0" ?>\n{DOCTYPE}\n<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n',
                    encoding="utf-8")
    return path


def make_records(snapshot: Path, edats: dict, name: str = "records.xml") -> Path:
    """``{pmid: 'YYYY/MM/DD'}`` -> one snapshot file."""
    return write_articles(Path(snapshot) / name, [article_xml(p, d) for p, d in edats.items()])


def spread(n: int, start: str = "2024/01/01", per_day: int = 1, first_pmid: int = 30000001) -> dict:
    """``n`` records, ``per_day`` per Entrez day from ``start``, PMIDs counting up."""
    d0 = date(*map(int, start.split("/")))
    return {str(first_pmid + i): (d0 + timedelta(days=i // per_day)).strftime("%Y/%m/%d") for i in range(n)}


def copy_samples(dest: Path) -> Path:
    """Copy the real EFetch samples pubmed*.xml into ``dest`` (a snapshot directory)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(SAMPLES.glob("pubmed*.xml")):
        shutil.copy(f, dest / f.name)
    return dest


def fast_settings(url: str, **changes) -> Settings:
    """Settings for tests: backoff 10 ms, short timeouts, pacing effectively off, a contact email."""
    values = dict(eutils_url=url, ncbi_email="tests@example.org", ncbi_tool="ldn-monitor-tests",
                  timeout=2.0, max_retries=3, backoff=0.01, rate=1000.0, batch_size=500)
    values.update(changes)
    return Settings(**values)


class FakeClock:
    """``clock()`` returns fake seconds; ``sleep(s)`` records ``s`` and moves the clock, without waiting."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
