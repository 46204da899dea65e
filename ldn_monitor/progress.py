"""Progress for long work (backfill, ingest-files, rescore): a bar on a terminal, counts in the logs.

A bar only when stderr is a terminal (and LDN_PROGRESS is not "off"); the log always gets a
line every ``every`` records and at the end, so scheduled runs leave a trace.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional


class Progress:
    def __init__(self, label: str, log: logging.Logger, total: Optional[int] = None, every: int = 1000):
        self.label, self.log, self.total, self.every = label, log, total, every
        self.done = 0
        self._next_log = every
        self._bar = None
        self._task = None
        self._t0 = time.monotonic()

    def __enter__(self) -> "Progress":
        if sys.stderr.isatty() and os.environ.get("LDN_PROGRESS", "on") != "off":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, info="")
        return self

    def advance(self, n: int, **counts) -> None:
        self.done += n
        info = " ".join(f"{k}={v}" for k, v in counts.items())
        if self._bar is not None:
            self._bar.update(self._task, advance=n, info=info)
        if self.done >= self._next_log:
            self.log.info("%s: %d records%s %s", self.label, self.done,
                          f"/{self.total}" if self.total else "", info)
            self._next_log = (self.done // self.every + 1) * self.every

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
        rate = self.done / max(time.monotonic() - self._t0, 1e-9)
        self.log.info("%s: %d records done (%.0f/s)", self.label, self.done, rate)
