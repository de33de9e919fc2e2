"""A dependency-free progress display on stderr: count, images per second and an ETA.

On a terminal it redraws one line (``\\r``) at most every 0.5 s. When the stream is not a
terminal (a log file, a pipe, CI) it writes whole lines instead, at most one every 30 s (and
the final one), so a log holds readable lines and never a ``\\r``.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "format_duration"]

TTY_INTERVAL = 0.5
LOG_INTERVAL = 30.0


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1m 15s"``, ``3725`` -> ``"1h 02m"``, ``4`` -> ``"4s"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts processed items and reports them on ``stream`` (default stderr).

    Args:
      total: expected number of items (for the percentage and the ETA); None if unknown.
      desc: label printed first.
      enabled: False makes every method a no-op.
      unit: what the rate counts (default "img").
      interval: seconds between reports (default 0.5 on a terminal, 30 otherwise).
      stream: where to write (default ``sys.stderr``).
      tty: redraw one line with ``\\r`` (default: whether ``stream`` is a terminal).

    Example:
        >>> bar = Progress(1000, "fid10k reals")
        >>> bar.update(32)   # after each batch
        >>> bar.close()      # fid10k reals: 1000/1000 (100.0%) 95.3 img/s, 10s, ETA 0s
    """

    def __init__(
        self, total=None, desc="", enabled=True, unit="img", interval=None, stream=None, tty=None
    ):
        self.total = total
        self.desc = desc
        self.enabled = enabled
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = _is_tty(self.stream) if tty is None else bool(tty)
        if interval is None:
            interval = TTY_INTERVAL if self.tty else LOG_INTERVAL
        self.interval = interval
        self.count = 0
        self.start = time.perf_counter()
        self._last_draw = self.start
        self._width = 0
        self._closed = False

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def rate(self) -> float:
        """Items per second since the display was created."""
        elapsed = self.elapsed
        return self.count / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; None without a total or before the first item."""
        if not self.total or self.count <= 0:
            return None
        return max(0.0, (self.total - self.count) / self.rate) if self.rate > 0 else None

    def update(self, n: int) -> None:
        self.count += int(n)
        now = time.perf_counter()
        if self.enabled and now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw()

    def text(self) -> str:
        """The current report, e.g. ``ppl_wend: 320/1000 (32.0%) 41.2 img/s, 7s, ETA 16s``."""
        if self.total:
            pct = 100.0 * self.count / self.total
            text = f"{self.desc}: {self.count}/{self.total} ({pct:5.1f}%)"
        else:
            text = f"{self.desc}: {self.count}"
        text += f" {self.rate:.1f} {self.unit}/s, {format_duration(self.elapsed)}"
        eta = self.eta
        if eta is not None:
            text += f", ETA {format_duration(eta)}"
        return text

    def _draw(self, final=False):
        text = self.text()
        if self.tty:
            width, self._width = self._width, len(text)
            self.stream.write("\r" + text.ljust(width) + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and not self._closed:
            self._closed = True
            self._draw(final=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
