"""Frozen records passed between the layers.

Pure modules (parse, assess, verdict, digest) take and return these; ``store.py`` turns
rows into records at its edge. Nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# Vocabularies, exactly as in the corpus README (shared/corpus/README.md).
DESIGNS = (
    "rct_parallel", "rct_crossover", "nonrandomized_controlled", "single_arm", "observational",
    "case_report", "case_series", "systematic_review", "meta_analysis", "narrative_review",
    "protocol", "secondary_analysis", "animal_or_in_vitro", "other",
)
RCT_DESIGNS = ("rct_parallel", "rct_crossover")
REVIEW_DESIGNS = ("systematic_review", "meta_analysis")
BLINDINGS = ("none", "single", "double", "triple")
CONTROLS = ("placebo", "active", "usual_care", "waitlist", "none")
DIRECTIONS = ("favorable", "null", "unfavorable", "mixed", "not_applicable")

# PMIDs from this number up are synthetic (the offline snapshot gives one to each corpus record
# that has no PMID); real PMIDs are far below it, and nothing links a synthetic one to PubMed.
SYNTHETIC_PMID_MIN = 99_000_000

# The label fields an assessment carries, in corpus order.
LABEL_FIELDS = (
    "is_ldn", "design", "randomized", "blinding", "control", "n_enrolled", "n_analyzed",
    "n_studies", "duration_weeks", "condition", "result_direction",
)


@dataclass(frozen=True)
class AbstractSection:
    """One AbstractText element: structured abstracts have a label (``METHODS``) and NlmCategory."""

    text: str
    label: Optional[str] = None
    category: Optional[str] = None


@dataclass(frozen=True)
class Correction:
    """A CommentsCorrections entry, e.g. ``RetractionIn`` pointing at the retraction notice."""

    ref_type: str
    pmid: Optional[str] = None
    source: Optional[str] = None


@dataclass(frozen=True)
class Article:
    """One PubMed record (PubmedArticle or PubmedBookArticle), inline markup flattened to text."""

    pmid: str
    version: int = 1
    title: str = ""
    abstract: tuple[AbstractSection, ...] = ()
    journal: str = ""
    journal_iso: str = ""
    pub_year: Optional[int] = None
    pub_date: Optional[str] = None  # ISO-ish, as precise as the record: "2021", "2021-03", "2021-03-05"
    entrez_date: Optional[str] = None  # YYYY-MM-DD, PubStatus="entrez" (what PubMed alerts call "new")
    authors: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    mesh_terms: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    doi: Optional[str] = None
    pmc: Optional[str] = None
    registry_ids: tuple[str, ...] = ()  # NCT ids from DataBankList and from the abstract text
    languages: tuple[str, ...] = ()
    corrections: tuple[Correction, ...] = ()
    status: Optional[str] = None  # MedlineCitation/@Status
    indexing_method: Optional[str] = None  # MedlineCitation/@IndexingMethod (None = manual)
    is_book: bool = False

    @property
    def abstract_text(self) -> str:
        """The abstract as one string, sections as ``LABEL: text`` paragraphs."""
        parts = []
        for s in self.abstract:
            parts.append(f"{s.label}: {s.text}" if s.label else s.text)
        return "\n\n".join(parts)

    @property
    def is_retracted(self) -> bool:
        return "Retracted Publication" in self.publication_types or any(
            c.ref_type == "RetractionIn" for c in self.corrections
        )

    @property
    def is_retraction_notice(self) -> bool:
        return "Retraction of Publication" in self.publication_types or any(
            c.ref_type == "RetractionOf" for c in self.corrections
        )


@dataclass(frozen=True)
class FetchResult:
    """What one EFetch body held: articles, and PMIDs that PubMed deleted (DeleteCitation)."""

    articles: tuple[Article, ...] = ()
    deleted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """The exact span of the assessed text that justifies one field.

    ``start``/``end`` index into ``assess.assessed_text(title, abstract)`` so a reviewer
    (or a test) can find the words again; ``text`` is that slice.
    """

    field: str
    text: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class DesignAssessment:
    """The machine's reading of one study. ``None`` means the record does not say."""

    pmid: Optional[str]
    is_ldn: Optional[bool] = None
    design: str = "other"
    randomized: Optional[bool] = None
    blinding: Optional[str] = None
    control: Optional[str] = None
    n_enrolled: Optional[int] = None
    n_analyzed: Optional[int] = None
    n_studies: Optional[int] = None
    duration_weeks: Optional[float] = None
    condition: Optional[str] = None
    result_direction: Optional[str] = None
    serious_harm: bool = False
    # Reviews only: does it pool randomized trials? True when it says so ("five RCTs"), False when
    # its included studies are observational/case reports, None when the abstract does not say.
    pooled_rcts: Optional[bool] = None
    evidence: tuple[Evidence, ...] = ()
    quality_score: int = 0
    quality_items: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    assessor_version: str = ""
    overridden: tuple[str, ...] = ()  # fields a reviewer corrected (see store overrides)

    def evidence_for(self, name: str) -> Optional[str]:
        for ev in self.evidence:
            if ev.field == name:
                return ev.text
        return None

    def labels(self) -> dict:
        """The label fields as a plain dict, corpus-style (for JSONL output and evaluation)."""
        return {name: getattr(self, name) for name in LABEL_FIELDS}

    @property
    def is_rct(self) -> bool:
        return self.design in RCT_DESIGNS


@dataclass(frozen=True)
class Window:
    """A polling window on Entrez date, inclusive, as ``YYYY/MM/DD`` strings for E-utilities."""

    mindate: str
    maxdate: str


@dataclass(frozen=True)
class Study:
    """An assessed study as the verdict engine sees it (article facts + assessment)."""

    pmid: str
    title: str
    assessment: DesignAssessment
    entrez_date: Optional[str] = None
    pub_year: Optional[int] = None
    doi: Optional[str] = None
    retracted: bool = False
    source: str = "pubmed"  # or "registry"
    url: str = ""
    first_seen: Optional[str] = None  # ISO timestamp the store first saw it
