"""Errors of the dataset tool and reader: each names the file or argument at fault.

The command line prints them as one line, ``error: <file or argument>: <what is wrong>``, and
exits with the error's ``exit_code`` (1 for bad data, 2 for bad usage). :class:`UsageError` is
the project-wide one from :mod:`stylegan_tf.errors`.
"""

from __future__ import annotations

from stylegan_tf.errors import UsageError, UserError, one_line

__all__ = ["DatasetError", "UsageError", "one_line"]


class DatasetError(UserError):
    """A data problem: an unreadable image, an empty source, a missing or damaged dataset.

    Args:
        subject: the file, source or argument the problem is about.
        message: what is wrong with it.
    """

    exit_code = 1

    def __init__(self, subject, message):
        super().__init__(subject, message)
