"""Distribution strategies, the chief worker, and preemption (SIGTERM) handling.

``--strategy``:

* ``one``: ``OneDeviceStrategy`` on the first GPU, else the CPU.
* ``mirrored``: ``MirroredStrategy`` over all local GPUs (or, without GPUs, all logical CPU
  devices, which is how the tests run two replicas on one machine).
* ``multi-worker``: ``MultiWorkerMirroredStrategy`` configured from ``TF_CONFIG``.
* ``auto``: ``multi-worker`` if ``TF_CONFIG`` names more than one task, else ``mirrored`` with
  several GPUs, else ``one``.

Preemption: :class:`PreemptionWatch` turns SIGTERM into a flag that the loop checks after each
group of ``minibatch_repeats`` minibatches; it then writes a checkpoint and stops. Under ``multi-worker`` the
``tf.distribute.experimental.PreemptionCheckpointHandler`` does this instead, so that every
worker checkpoints at the same step.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading

import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "Preempted",
    "PreemptionWatch",
    "cluster_task_count",
    "resolve_strategy_name",
    "make_strategy",
    "is_chief",
    "is_chief_task",
    "worker_id",
    "is_multi_worker",
]

STRATEGIES = ("auto", "one", "mirrored", "multi-worker")


class Preempted(Exception):
    """Raised after the preemption checkpoint has been written."""


def cluster_task_count() -> int:
    """Number of tasks listed in ``TF_CONFIG`` (0 without one)."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return 0
    try:
        cluster = json.loads(text).get("cluster", {})
    except (ValueError, AttributeError) as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    return sum(len(tasks) for name, tasks in cluster.items() if name in ("chief", "worker"))


def resolve_strategy_name(name: str) -> str:
    """``auto`` -> the concrete strategy name; validates ``name``."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name != "auto":
        return name
    if cluster_task_count() > 1:
        return "multi-worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "one"


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Create the strategy (call before any other TensorFlow work, as MWMS requires)."""
    name = resolve_strategy_name(name)
    if name == "multi-worker":
        if cluster_task_count() < 1:
            raise ValueError("--strategy multi-worker needs TF_CONFIG describing the cluster")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def is_multi_worker(strategy) -> bool:
    """True for a strategy spanning several worker processes."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return bool(
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and resolver is not None
        and resolver.cluster_spec().jobs
    )


def is_chief(strategy) -> bool:
    """True on the worker that writes the run's outputs (``chief``, else ``worker`` 0)."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def is_chief_task(strategy_name: str = "auto") -> bool:
    """:func:`is_chief` before the strategy exists, from ``TF_CONFIG`` (for the command line,
    which locks and prepares the run directory on the chief only)."""
    if resolve_strategy_name(strategy_name) != "multi-worker":
        return True
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    task_type, task_id = task.get("type"), int(task.get("index", 0))
    return task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in cluster
    )


def worker_id(strategy) -> str:
    """``"<task_type>-<task_id>"`` in a cluster, ``"local"`` otherwise."""
    if not is_multi_worker(strategy):
        return "local"
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type}-{resolver.task_id}"


class PreemptionWatch:
    """SIGTERM -> checkpoint -> :class:`Preempted`, checked at minibatch-group boundaries.

    Create it as early as possible (a SIGTERM before then kills the process the default way).
    The loop calls :meth:`check` with its checkpoint function after each group of
    ``minibatch_repeats`` minibatches (and the tick's maintenance, if the group ended one); it
    writes the checkpoint and raises :class:`Preempted` once a stop was requested.
    :attr:`requested` lets the loop stop before its first group without a checkpoint.
    :meth:`close` restores the previous signal handler.
    """

    def __init__(self, strategy):
        self._requested = threading.Event()
        self._save_fn = None
        self._previous = None
        self._handler = None
        self._tmp = None
        if is_multi_worker(strategy):
            self._tmp = tempfile.mkdtemp(prefix="preemption-")

            def exit_fn():
                raise Preempted("preempted: checkpoint written")

            config = tf.distribute.experimental.TerminationConfig(
                exit_fn=exit_fn, save_fn=lambda *a, **k: self._save_fn()
            )
            # The handler's own bookkeeping lives in a throwaway checkpoint so that it restarts
            # from zero on every worker; the training state is saved by the loop's save function.
            self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
                strategy.cluster_resolver,
                tf.train.Checkpoint(),
                checkpoint_dir=self._tmp,
                termination_config=config,
            )
        elif threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame):
        self._requested.set()

    @property
    def requested(self) -> bool:
        """True once SIGTERM was received (single-process strategies; the multi-worker handler
        decides in :meth:`check`)."""
        return self._requested.is_set()

    def check(self, save_fn):
        """Call ``save_fn()`` (on every worker) and raise :class:`Preempted` if a stop was
        requested."""
        self._save_fn = save_fn
        if self._handler is not None:
            self._handler.save_checkpoint_if_preempted()
        elif self._requested.is_set():
            save_fn()
            raise Preempted("preempted: checkpoint written")

    def close(self):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
        if self._tmp is not None:
            tf.io.gfile.rmtree(self._tmp) if tf.io.gfile.exists(self._tmp) else None
            self._tmp = None
