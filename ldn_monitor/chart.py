"""Pure: the evidence map picture — cumulative randomized n of LDN trials over time, per condition.

Returns PNG bytes (matplotlib's Agg backend, no display, no files), with the optimal information
size and the verdict date drawn in, so a reviewer sees at a glance how far each condition is from
"enough evidence".
"""
from __future__ import annotations

import io
from typing import Mapping

from .records import Study
from .verdict import VerdictReport, is_rct, study_date


def _year_fraction(iso: str) -> float:
    y, m, d = (int(x) for x in (iso.split("-") + ["1", "1"])[:3])
    return y + (max(m, 1) - 1) / 12 + (max(d, 1) - 1) / 365


def evidence_map_png(report: VerdictReport, studies: Mapping[str, Study], rules: dict,
                     max_conditions: int = 8) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # the OO API: no global pyplot state between calls

    series = []
    for c in report.conditions:
        trials = [studies[p] for p in c.studies if p in studies and is_rct(studies[p])
                  and not studies[p].retracted and studies[p].assessment.n_enrolled]
        if trials:
            series.append((c, sorted(trials, key=study_date)))
    series.sort(key=lambda cs: -cs[0].cumulative_n)
    series = series[:max_conditions]

    fig = Figure(figsize=(9.5, 3.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    optimal = rules["information_size"]["optimal_n"]
    ax.axhline(optimal, color="#b03a2e", linestyle="--", linewidth=1)
    ax.text(0.99, optimal, f"optimal information size ({optimal}) ", color="#b03a2e", fontsize=8,
            va="bottom", ha="right", transform=ax.get_yaxis_transform())
    vx = _year_fraction(rules["verdict_date"])
    ax.axvline(vx, color="#555555", linestyle=":", linewidth=1)
    ax.text(vx, 0.98, " verdict", color="#555555", fontsize=8, va="top", transform=ax.get_xaxis_transform())
    # Every line runs on to the latest trial of any condition, so the right edge reads as "now".
    end = max((_year_fraction(study_date(t)) for _, ts in series for t in ts), default=vx)
    for c, trials in series:
        xs, ys, total = [], [], 0
        for s in trials:
            total += s.assessment.n_enrolled
            xs.append(_year_fraction(study_date(s)))
            ys.append(total)
        xs.append(end)
        ys.append(total)
        label = f"{c.condition.replace('_', ' ')} ({c.status.replace('_', ' ')})"
        ax.step(xs, ys, where="post", marker="o", markersize=4, linewidth=1.5, label=label, markevery=list(range(len(xs) - 1)))
    if not series:
        ax.text(0.5, 0.5, "no randomized controlled LDN trials yet", ha="center", va="center",
                transform=ax.transAxes, fontsize=10, color="#555555")
    ax.set_xlabel("Entrez date")
    ax.set_ylabel("cumulative randomized n")
    ax.set_ylim(0, max([optimal * 1.15] + [c.cumulative_n * 1.1 for c, _ in series]))
    ax.set_title("LDN randomized controlled trials: cumulative participants per condition", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if series:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
