"""Small shared utilities that need no TensorFlow at import time."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

__all__ = ["quiet_stderr_fd", "import_tensorflow_quietly"]


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


def import_tensorflow_quietly(probe_devices=False):
    """Import TensorFlow (and optionally probe its devices) with the C++ log lines hidden."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr_fd():
        import tensorflow as tf

        if probe_devices:
            tf.config.list_physical_devices("GPU")
    return tf
