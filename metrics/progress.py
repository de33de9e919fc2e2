"""A dependency-free progress bar on stderr that reports images per second."""

from __future__ import annotations

import sys
import time


class Progress:
    """Counts processed items and redraws one stderr line at most every `interval` seconds.

    Args:
      total: expected number of items (for the percentage); None if unknown.
      desc: label printed first.
      enabled: False makes every method a no-op.
      unit: what the rate counts (default "img").

    Example:
        >>> bar = Progress(1000, "fid10k reals")
        >>> bar.update(32)   # after each batch
        >>> bar.close()
    """

    def __init__(self, total=None, desc="", enabled=True, unit="img", interval=0.5, stream=None):
        self.total = total
        self.desc = desc
        self.enabled = enabled
        self.unit = unit
        self.interval = interval
        self.stream = stream or sys.stderr
        self.count = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._width = 0

    @property
    def rate(self) -> float:
        """Items per second since the bar was created."""
        elapsed = time.perf_counter() - self.start
        return self.count / elapsed if elapsed > 0 else 0.0

    def update(self, n: int) -> None:
        self.count += int(n)
        now = time.perf_counter()
        if self.enabled and now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw()

    def _draw(self, end=""):
        if self.total:
            pct = 100.0 * self.count / self.total
            text = f"{self.desc}: {self.count}/{self.total} ({pct:5.1f}%)"
        else:
            text = f"{self.desc}: {self.count}"
        text += f" {self.rate:.1f} {self.unit}/s"
        width, self._width = self._width, len(text)
        self.stream.write("\r" + text.ljust(width) + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(end="\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
