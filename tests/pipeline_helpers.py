"""Shared builders for pipeline and flow tests: synthetic corpus-format records, settings, runs."""
from __future__ import annotations

import email
import email.policy
from pathlib import Path

from ldn_monitor.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "data" / "snapshot"


def settings_for(tmp_path: Path, server, **kw):
    base = dict(db=tmp_path / "ldn.db", outbox=tmp_path / "outbox", eutils_url=server.url, rate=1000.0,
                backoff=0.001, max_retries=2, timeout=5.0, registry=False, batch_size=500)
    base.update(kw)
    return load_settings({}).replace(**base)


def trial(pmid: str, *, n: int = 240, weeks: int = 24, condition_words: str = "fibromyalgia",
          dose: str = "low-dose naltrexone (LDN) 4.5 mg daily", result: str = "favorable",
          entrez_date: str = "2026-10-01", title: str | None = None) -> dict:
    """A corpus-format record of a randomized, double-blind, placebo-controlled trial."""
    findings = {
        "favorable": ("Pain fell significantly more with naltrexone than with placebo (mean difference "
                      "-1.4 points, 95% CI -2.0 to -0.8; p < 0.001)."),
        "null": ("Pain did not differ between naltrexone and placebo (mean difference -0.1 points, 95% CI "
                 "-0.6 to 0.4; p = 0.70)."),
    }[result]
    conclusion = {"favorable": "Naltrexone at this dose reduced symptoms compared with placebo.",
                  "null": "Naltrexone at this dose was no better than placebo."}[result]
    return {
        "record_id": f"T{pmid}", "pmid": pmid, "doi": None, "year": int(entrez_date[:4]),
        "title": title or f"Naltrexone versus placebo in adults with {condition_words}: a randomized, double-blind, "
                          f"placebo-controlled trial",
        "authors": "Tester A, Reviewer B.", "journal": "Test J", "publication_types": None, "nct_ids": [],
        "entrez_date": entrez_date,
        "abstract": (
            f"BACKGROUND: Treatment options for {condition_words} are limited.\n\n"
            f"METHODS: In this randomized, double-blind, placebo-controlled trial, {n} adults with "
            f"{condition_words} were randomly assigned to {dose} or placebo for {weeks} weeks. The primary "
            f"outcome was pain intensity at week {weeks}.\n\n"
            f"RESULTS: All {n} participants were analysed. {findings}\n\n"
            f"CONCLUSIONS: {conclusion}"),
    }


def small_open_label(pmid: str, condition_words: str = "Crohn's disease", entrez_date: str = "2026-09-01") -> dict:
    return {
        "record_id": f"S{pmid}", "pmid": pmid, "doi": None, "year": int(entrez_date[:4]),
        "title": f"Low-dose naltrexone in {condition_words}: an open-label pilot study",
        "authors": "Pilot P.", "journal": "Test J", "publication_types": None, "nct_ids": [],
        "entrez_date": entrez_date,
        "abstract": (f"Twelve patients with {condition_words} took low-dose naltrexone 4.5 mg nightly for 8 weeks "
                     "in this open-label pilot study. Symptoms improved in nine of twelve patients."),
    }


def outbox_messages(outbox: Path) -> list:
    if not outbox.exists():
        return []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(outbox.glob("*.eml"))]
