#!/usr/bin/env python
"""Build the offline demo snapshot (PubMed EFetch-shaped XML) from the LDN study corpus.

    python scripts/build_snapshot.py --corpus ../shared/corpus/dev.jsonl --out data/snapshot

Writes pubmed.xml, manifest.json and README.md into --out. Output is byte-for-byte
deterministic for a given corpus file, so a rebuild shows up in `git diff` only when the
corpus or the builder changed.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable without installing

from ldn_monitor.snapshot import (  # noqa: E402
    EDAT_END, EDAT_START, SYNTHETIC_PMID_MAX, SYNTHETIC_PMID_MIN, corpus_to_snapshot,
    load_corpus,
)


def readme(corpus_name: str, corpus_sha: str, records: list, manifest: list) -> str:
    synthetic = [row for row in manifest if row["synthetic_pmid"]]
    years = Counter(row["entrez_date"][:4] for row in manifest)
    no_year = [row["record_id"] for row, rec in zip(manifest, records)
               if not isinstance(rec.get("year"), int)]
    lines = [
        "# Offline PubMed snapshot (generated)",
        "",
        "Do not edit by hand: rebuild with",
        "",
        "    .venv/bin/python scripts/build_snapshot.py --corpus ../shared/corpus/dev.jsonl "
        "--out data/snapshot",
        "",
        f"Source: `{corpus_name}` (SHA-256 `{corpus_sha}`), {len(manifest)} records. "
        "The build is deterministic: same corpus, same bytes.",
        "",
        "## Files",
        "",
        "- `pubmed.xml`: one `PubmedArticleSet`, shaped like an EFetch `db=pubmed&retmode=xml` "
        "body and valid against the PubMed DTD (`pubmed_250101.dtd`), one `PubmedArticle` per "
        "corpus record, in corpus order. Read it with `ldn_monitor.parse.iter_records`.",
        "- `manifest.json`: one row per record: `pmid`, `record_id` (corpus), `entrez_date` "
        "(YYYY-MM-DD), `synthetic_pmid` (true when the PMID below was invented).",
        "",
        "## What is real and what is not",
        "",
        "- **Abstracts are paraphrases**, not PubMed's text: the corpus rewrote every abstract in "
        "its own words, keeping facts, figures and section labels (see "
        "`shared/corpus/README.md`). Some stop early where the source page did.",
        "- Titles, authors, journal, year, DOI and real PMIDs are the bibliographic data the "
        "corpus holds. Authors were split from a free-text string by a best-effort heuristic.",
        "- Made up to satisfy the DTD or the pipeline: `MedlineCitation/@Status` is "
        "`PubMed-not-MEDLINE` for every record, `Language` is `eng`, `PublicationType` is "
        "`Journal Article` where the corpus has none, there are no MeSH terms, and the "
        "`History` dates are the synthetic Entrez date below (entrez = pubmed, medline one "
        "minute later). Records without a year carry an empty `PubDate/MedlineDate`.",
        "- Section labels: a line starting with an all-caps label (or a known section word such "
        "as `Results`) and `:` becomes a labelled `AbstractText` with an NlmCategory; the label "
        "keeps its original spelling. Registry ids from the corpus `nct_ids` go to "
        "`DataBankList` (ClinicalTrials.gov, EudraCT).",
        "",
        "## Synthetic PMIDs",
        "",
        f"Records without a PMID get one in the reserved range {SYNTHETIC_PMID_MIN:,}–"
        f"{SYNTHETIC_PMID_MAX:,}, far above any real PMID: record_id `A002` → 99000002, `B031` → "
        "99010031 (letter index × 10,000 + number; other record_id shapes: 99,500,000 + a "
        "SHA-256-derived offset). `ldn_monitor.snapshot.is_synthetic_pmid()` recognises them. "
        "Never send one to NCBI.",
        "",
        f"{len(synthetic)} of {len(manifest)} PMIDs are synthetic:",
        "",
        "| pmid | record_id | entrez_date |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {r['pmid']} | {r['record_id']} | {r['entrez_date']} |" for r in synthetic]
    lines += [
        "",
        "## Entrez dates (EDAT)",
        "",
        "Real EDATs are not in the corpus, so each record gets a deterministic one, spread out so "
        "that polling windows select different records: a day of the record's publication year "
        "chosen by SHA-256 of `edat:<record_id>`; records without a year get a day in "
        f"{EDAT_START.isoformat()}..{EDAT_END.isoformat()} the same way. No EDAT is later than "
        f"{EDAT_END.isoformat()}.",
        "",
        f"Records without a year ({len(no_year)}): {', '.join(no_year) or 'none'}.",
        "",
        "Records per EDAT year: " + ", ".join(f"{y}: {n}" for y, n in sorted(years.items())) + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path, help="corpus JSONL (dev.jsonl)")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    args = ap.parse_args(argv)
    records = load_corpus(args.corpus)
    manifest = corpus_to_snapshot(records, args.out)
    sha = hashlib.sha256(args.corpus.read_bytes()).hexdigest()
    (args.out / "README.md").write_text(readme(args.corpus.name, sha, records, manifest),
                                        encoding="utf-8")
    n_syn = sum(row["synthetic_pmid"] for row in manifest)
    print(f"wrote {len(manifest)} records ({n_syn} synthetic PMIDs) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
