"""Small shared utilities that need no TensorFlow at import time.

Quiet TensorFlow: every command line calls :func:`import_tensorflow_quietly` with its
``--verbose`` flag after parsing its arguments, before anything else imports TensorFlow. By default that sets ``TF_CPP_MIN_LOG_LEVEL=3`` (TensorFlow reads
it once, at import), which hides the C++ start-up lines (``cuInit``, ``cudart_stub``, oneDNN and
CPU-feature notices) and Grappler's ``remapper failed`` / ``NodeDef mentions attribute``
messages, and raises the ``tensorflow`` / absl Python loggers to ERROR; Python exceptions are
not affected. ``--verbose`` (or ``STYLEGAN_TF_VERBOSE=1``) leaves TensorFlow's logging as it is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile

__all__ = ["quiet_stderr_fd", "import_tensorflow_quietly", "quiet_tensorflow", "is_verbose"]

VERBOSE_ENV = "STYLEGAN_TF_VERBOSE"


def is_verbose() -> bool:
    """Whether TensorFlow's own log lines are wanted (``--verbose`` / ``STYLEGAN_TF_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_tensorflow(verbose: bool | None = False) -> None:
    """Filter TensorFlow's log noise; call before TensorFlow is imported (see module docstring).

    Args:
        verbose: True leaves TensorFlow's logging alone (and records that for
            :func:`import_tensorflow_quietly`); None reads ``STYLEGAN_TF_VERBOSE``.
    """
    if verbose is None:
        verbose = is_verbose()
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging
    except ImportError:  # absl comes with TensorFlow; nothing to configure without it
        return
    absl_logging.set_verbosity(absl_logging.ERROR)


@contextlib.contextmanager
def quiet_stderr_fd():
    """Hide what C++ code writes to fd 2 (TensorFlow's start-up and device-probe log lines) so
    that a command's stderr holds only its own progress and one-line errors; replay the captured
    text if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly(probe_devices=False, verbose: bool | None = None):
    """Import TensorFlow (and optionally probe its devices) with its log lines hidden: the
    filters of :func:`quiet_tensorflow`, and what C++ code writes to stderr during the import
    (lines logged before absl is initialised ignore ``TF_CPP_MIN_LOG_LEVEL``). ``verbose``
    True (or None with ``STYLEGAN_TF_VERBOSE=1``) shows everything."""
    if verbose is None:
        verbose = is_verbose()
    quiet_tensorflow(verbose)
    with contextlib.nullcontext() if verbose else quiet_stderr_fd():
        import tensorflow as tf

        if probe_devices:
            tf.config.list_physical_devices("GPU")
    return tf
