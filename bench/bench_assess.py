"""Throughput of the assessor: records/second on the dev corpus repeated to >= 10,000 records.

    .venv/bin/python bench/bench_assess.py [--corpus ../shared/corpus/dev.jsonl] [--min-records 10000]

Assessing is pure (no I/O inside the loop), so this measures the rules alone.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldn_monitor.assess import ASSESSOR_VERSION, assess_text  # noqa: E402
from ldn_monitor.evaluate import load_jsonl  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus/dev.jsonl"))
    ap.add_argument("--min-records", type=int, default=10_000)
    args = ap.parse_args()
    recs = load_jsonl(args.corpus)
    inputs = [(r.get("title") or "", r.get("abstract") or "", tuple(r.get("publication_types") or ()), tuple(r.get("nct_ids") or ()))
              for r in recs]
    reps = math.ceil(args.min_records / len(inputs))
    work = inputs * reps
    for t, a, pt, reg in inputs[:5]:  # warm-up (regex caches)
        assess_text(t, a, publication_types=pt, registry_ids=reg)
    t0 = time.perf_counter()
    chars = 0
    for t, a, pt, reg in work:
        assess_text(t, a, publication_types=pt, registry_ids=reg)
        chars += len(t) + len(a)
    dt = time.perf_counter() - t0
    print(f"assessor {ASSESSOR_VERSION}: {len(work)} records ({len(inputs)} distinct x {reps}) in {dt:.2f} s "
          f"= {len(work) / dt:,.0f} records/s, {chars / dt / 1e6:.2f} M chars/s, {dt / len(work) * 1e3:.2f} ms/record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
