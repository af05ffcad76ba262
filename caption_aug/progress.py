"""One progress line for long work: where a phase is and about how long the rest should take.

The estimate is the rate of this process so far (a resumed phase counts only what it ran itself),
so it needs no knowledge of the machine; lines come at most every `every_seconds` and at the end.
"""

import time

from absl import logging


def duration(seconds: float) -> str:
    """'4 min 05 s' or '42 s'."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


class Progress:
    """`update(done)` after each unit of work (step, iteration) of a phase of `total` units."""

    def __init__(self, name: str, total: int, done: int = 0, every_seconds: float = 30.0):
        self.name = name
        self.total = max(int(total), 1)
        self.every_seconds = every_seconds
        self._start_done = done
        self._start = self._last = time.monotonic()

    def line(self, done: int) -> str:
        done = min(done, self.total)
        elapsed = time.monotonic() - self._start
        rate = (done - self._start_done) / elapsed if elapsed > 0 else 0.0
        left = f"about {duration((self.total - done) / rate)} left" if rate > 0 else "starting"
        return (f"{self.name}: {done}/{self.total} ({100.0 * done / self.total:.0f}%), "
                f"{duration(elapsed)} so far, {left}")

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_seconds or done >= self.total:
            self._last = now
            logging.info("%s", self.line(done))

