"""Small shared utilities that need no TensorFlow at import time.

Quiet TensorFlow: every command line calls :func:`import_tensorflow_quietly` with its
``--verbose`` flag after parsing its arguments, before anything else imports TensorFlow. By default that sets ``TF_CPP_MIN_LOG_LEVEL=3`` (TensorFlow reads
it once, at import), which hides the C++ start-up lines (``cuInit``, ``cudart_stub``, oneDNN and
CPU-feature notices) and Grappler's ``remapper failed`` / ``NodeDef mentions attribute``
messages, and raises the ``tensorflow`` / absl Python loggers to ERROR; Python exceptions are
not affected. ``--verbose`` (or ``STYLEGAN_TF_VERBOSE=1``) leaves TensorFlow's logging as it is.

Host memory: the command lines that run the networks (training, generation, projection,
metrics) call :func:`tune_host_allocator` first, so that glibc keeps freed buffers for reuse.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import tempfile

__all__ = [
    "quiet_stderr_fd",
    "import_tensorflow_quietly",
    "quiet_tensorflow",
    "is_verbose",
    "tune_host_allocator",
    "compile_for",
]

VERBOSE_ENV = "STYLEGAN_TF_VERBOSE"
MALLOC_ENV = "STYLEGAN_TF_MALLOC"

# glibc's mallopt parameters (malloc.h) and the values tune_host_allocator sets.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_HOST_ALLOCATOR = (
    (_M_MMAP_THRESHOLD, 32 << 20),  # glibc's largest; its dynamic threshold stops there too
    (_M_TRIM_THRESHOLD, (1 << 31) - 1),
    (_M_TOP_PAD, 64 << 20),
)


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


def tune_host_allocator() -> bool:
    """Have glibc keep freed host memory for reuse instead of returning it to the kernel.

    A training step allocates and frees hundreds of activation-sized buffers. With glibc's
    defaults the malloc arenas of TensorFlow's worker threads are unmapped as soon as they are
    free and mapped again at the next allocation, so every step faults in fresh pages for memory
    it has just released: at 32^2 in ``benchmarks/bench_training.py``'s configuration, 183
    ``mmap`` and 402 ``munmap`` calls in three steps and ~48k page faults per step. This sets a
    fixed 32 MiB mmap threshold (the largest glibc takes), a 2 GiB trim threshold and a 64 MiB
    top pad: those calls are gone and the faults drop to ~16k per step. Peak memory stays
    about the same (the demo's peak RSS: 1.51 GB against 1.50 GB); the process keeps it until
    it exits.

    Returns True when applied. Does nothing (False) on a C library other than glibc, when
    ``STYLEGAN_TF_MALLOC=default``, or when glibc malloc settings are already given in the
    environment (``GLIBC_TUNABLES`` naming ``glibc.malloc``, or any ``MALLOC_*`` variable):
    those then apply as they are.
    """
    if os.environ.get(MALLOC_ENV, "") == "default":
        return False
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or any(
        k.startswith("MALLOC_") for k in os.environ
    ):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p  # glibc only: else AttributeError
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in _HOST_ALLOCATOR)


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


def compile_for(G, fn):
    """``fn`` as a ``tf.function`` (without AutoGraph) when ``G`` is a Keras layer or model on
    the TensorFlow backend, so that it runs as one traced graph (one trace per input shape);
    otherwise ``fn`` itself (e.g. an official network or another Keras backend)."""
    import keras

    if not isinstance(G, keras.layers.Layer) or keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    return tf.function(fn, autograph=False)
