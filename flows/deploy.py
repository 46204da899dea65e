"""Deployments: ``ldn-monitor/weekly`` on a cron schedule, ``ldn-rerun/manual`` for reviewers.

Scheduling needs a real Prefect server (ephemeral mode refuses schedules):

    prefect server start                      # terminal 1 (PREFECT_HOME set, analytics off)
    python flows/deploy.py                    # terminal 2: registers both and serves them
    prefect deployment ls                     # see them; `prefect deployment inspect ldn-monitor/weekly`
    prefect deployment run ldn-rerun/manual -p since=2024-01-01 -p until=2024-06-30

Settings come from the serving process's environment (LDN_*), never from parameters, so
secrets stay out of Prefect's database.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect.schedules import Cron  # noqa: E402

from flows.monitor import monitor, rerun  # noqa: E402

DEFAULT_CRON = "0 6 * * 1"  # Mondays 06:00, before reviewers start the week; off US peak hours
DEFAULT_TZ = "Europe/London"
# One run at a time across the scheduled and manual deployments; the store's lease is the
# second line of defence (it also covers CLI runs that bypass Prefect).
CONCURRENCY_LIMIT = 1


def deployments(cron: str = DEFAULT_CRON, timezone: str = DEFAULT_TZ):
    weekly = monitor.to_deployment(
        name="weekly", schedules=[Cron(cron, timezone=timezone)], parameters={"trigger": "schedule"},
        concurrency_limit=CONCURRENCY_LIMIT, tags=["ldn-monitor"],
        description="Weekly PubMed + ClinicalTrials.gov poll; emails the digest when something moved.")
    manual = rerun.to_deployment(
        name="manual", concurrency_limit=CONCURRENCY_LIMIT, tags=["ldn-monitor"],
        description="Manual re-run: since/until window, full re-query, rescore, or resend=DIGEST_ID.")
    return weekly, manual


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Register and serve the ldn-monitor deployments.")
    p.add_argument("--cron", default=os.environ.get("LDN_CRON", DEFAULT_CRON))
    p.add_argument("--timezone", default=os.environ.get("LDN_TIMEZONE", DEFAULT_TZ))
    p.add_argument("--register-only", action="store_true", help="apply the deployments and exit (no serving)")
    args = p.parse_args(argv)
    deps = deployments(args.cron, args.timezone)
    if args.register_only:
        for d in deps:
            print(f"registered {d.flow_name}/{d.name}: {d.apply()}")
        return 0
    from prefect import serve

    serve(*deps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
