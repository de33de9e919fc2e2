"""Errors of the dataset tool and reader: each names the file or argument at fault.

The command line prints them as one line, ``error: <file or argument>: <what is wrong>``, and
exits with :attr:`DatasetError.exit_code` (1 for bad data, 2 for bad usage).
"""

from __future__ import annotations

__all__ = ["DatasetError", "UsageError", "one_line"]


def one_line(text) -> str:
    """``text`` as a single line: line breaks (e.g. from a library's message) become spaces."""
    return " ".join(str(text).splitlines()).strip()


class DatasetError(ValueError):
    """A data problem: an unreadable image, an empty source, a missing or damaged dataset.

    Args:
        subject: the file, source or argument the problem is about.
        message: what is wrong with it.
    """

    exit_code = 1

    def __init__(self, subject, message):
        self.subject = one_line(subject)
        self.message = one_line(message)
        super().__init__(f"{self.subject}: {self.message}")


class UsageError(DatasetError):
    """A bad argument: a non-power-of-two resolution, an existing ``--dest``, an unknown option."""

    exit_code = 2
