"""The project's user-facing errors: a mistake in a file or argument the user gave.

Command lines print them as one line, ``error: <file or argument>: <what is wrong>`` (or
``error: <what is wrong>``), without a traceback, and exit with :attr:`UserError.exit_code`:
1 for bad data, 2 for bad usage. This module imports nothing heavy, so a command line can report
argument errors before TensorFlow loads.
"""

from __future__ import annotations

__all__ = ["UserError", "UsageError", "one_line"]


def one_line(text) -> str:
    """``text`` as a single line: line breaks (e.g. from a library's message) become spaces."""
    return " ".join(str(text).splitlines()).strip()


class UserError(ValueError):
    """A problem with something the user gave: a file, a source, an argument.

    Args:
        subject: the file, source or argument the problem is about; or, when ``message`` is
            omitted, the whole message.
        message: what is wrong with ``subject``.
    """

    exit_code = 1

    def __init__(self, subject, message=None):
        if message is None:
            subject, message = None, subject
        self.subject = None if subject is None else one_line(subject)
        self.message = one_line(message)
        super().__init__(
            self.message if self.subject is None else f"{self.subject}: {self.message}"
        )


class UsageError(UserError):
    """A bad argument or combination of arguments (exit code 2): a non-power-of-two resolution,
    an existing ``--dest``, an unknown preset."""

    exit_code = 2
