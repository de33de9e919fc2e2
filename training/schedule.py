"""Progressive-growing schedule: a pure function of the number of images shown so far.

This is the official ``training_loop.TrainingSchedule`` (``NVlabs/stylegan`` training_loop.py
L78-89): with ``phase_dur = lod_training_kimg + lod_transition_kimg`` and
``phase_idx = floor(kimg / phase_dur)``,

    lod = log2(img_resolution) - log2(initial_resolution) - phase_idx
          - max(kimg - phase_idx * phase_dur - lod_training_kimg, 0) / lod_transition_kimg
    lod = max(lod, 0)

Each phase first trains its resolution for ``lod_training_kimg`` and then fades in the next one
for ``lod_transition_kimg``. The resolution used to look up the minibatch, learning-rate and
tick tables is ``2 ** (log2(img_resolution) - floor(lod))``, so the new resolution's minibatch
and learning rate apply during its fade-in. That is also the resolution the networks run at
(``stage``), with the fade value ``alpha = 1 - (lod - floor(lod))``.

The training loop re-evaluates the schedule every ``minibatch_repeats`` (4) minibatches and
resets the Adam state whenever ``floor(lod)`` or ``ceil(lod)`` changes
(:func:`needs_optimizer_reset`).

Example:
    >>> from stylegan_tf.config import get_preset
    >>> s = training_schedule(1_500_000, get_preset("paper1024").schedule, 1024)
    >>> (s.resolution, s.alpha, s.minibatch, s.lr)
    (16, 1.0, 128, 0.001)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stylegan_tf.config import MINIBATCH_BY_GPUS, ScheduleConfig

__all__ = [
    "ScheduleState",
    "training_schedule",
    "needs_optimizer_reset",
    "schedule_table",
    "format_schedule_table",
    "minibatch_table_for_gpus",
]


@dataclass(frozen=True)
class ScheduleState:
    """The schedule at one point of training.

    Attributes:
        kimg: thousands of real images shown so far.
        lod: official level of detail (0 = full resolution; fractional during a fade-in).
        resolution: the resolution being trained (the networks' ``stage``), a power of two.
        alpha: fade-in of ``resolution`` in [0, 1] (1 = fully faded in).
        minibatch: global minibatch size (a multiple of the number of replicas).
        lr: learning rate of G and D.
        tick_kimg: length of a tick at this resolution.
        phase: ``"stable"`` or ``"fade"``.
    """

    kimg: float
    lod: float
    resolution: int
    alpha: float
    minibatch: int
    lr: float
    tick_kimg: float
    phase: str


def _lookup(table: dict, res: int, base):
    return table.get(res, base)


def training_schedule(
    cur_nimg: int, sched: ScheduleConfig, img_resolution: int, num_replicas: int = 1
) -> ScheduleState:
    """The official ``TrainingSchedule`` at ``cur_nimg`` images shown.

    Args:
        cur_nimg: real images shown so far.
        sched: the schedule configuration.
        img_resolution: the dataset / network resolution (``2 ** resolution_log2``).
        num_replicas: the official ``num_gpus``; the minibatch is rounded down to a multiple.
    """
    if cur_nimg < 0:
        raise ValueError(f"cur_nimg must be >= 0, got {cur_nimg!r}")
    if num_replicas < 1:
        raise ValueError(f"num_replicas must be >= 1, got {num_replicas!r}")
    kimg = cur_nimg / 1000.0
    phase_dur = sched.lod_training_kimg + sched.lod_transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur

    resolution_log2 = int(math.log2(img_resolution))
    lod = float(resolution_log2)
    lod -= math.floor(math.log2(sched.initial_resolution))
    lod -= phase_idx
    if sched.lod_transition_kimg > 0:
        lod -= max(phase_kimg - sched.lod_training_kimg, 0.0) / sched.lod_transition_kimg
    lod = max(lod, 0.0)
    resolution = 2 ** (resolution_log2 - int(math.floor(lod)))
    alpha = 1.0 - (lod - math.floor(lod))

    minibatch = int(_lookup(sched.minibatch_dict, resolution, sched.minibatch_base))
    minibatch -= minibatch % num_replicas
    lr = float(_lookup(sched.lr_dict, resolution, sched.lr_base))
    tick_kimg = float(_lookup(sched.tick_kimg_dict, resolution, sched.tick_kimg_base))
    return ScheduleState(
        kimg=kimg,
        lod=lod,
        resolution=resolution,
        alpha=alpha,
        minibatch=minibatch,
        lr=lr,
        tick_kimg=tick_kimg,
        phase="stable" if alpha >= 1.0 else "fade",
    )


def needs_optimizer_reset(prev_lod: float, lod: float) -> bool:
    """Official ``reset_opt_for_new_lod``: True when ``floor(lod)`` or ``ceil(lod)`` changed."""
    return math.floor(lod) != math.floor(prev_lod) or math.ceil(lod) != math.ceil(prev_lod)


def minibatch_table_for_gpus(num_gpus: int) -> tuple:
    """``(minibatch_base, minibatch_dict)`` of the official train.py for 1, 2, 4 or 8 GPUs."""
    if num_gpus not in MINIBATCH_BY_GPUS:
        raise ValueError(
            f"the official minibatch tables exist for {sorted(MINIBATCH_BY_GPUS)} GPUs, "
            f"got {num_gpus!r}"
        )
    base, table = MINIBATCH_BY_GPUS[num_gpus]
    return base, dict(table)


def schedule_table(sched: ScheduleConfig, img_resolution: int, num_replicas: int = 1) -> list[dict]:
    """One row per schedule segment (a stable phase or a fade-in) up to ``total_kimg``.

    Each row: ``start_kimg``, ``end_kimg``, ``phase``, ``resolution``, ``minibatch``, ``lr``,
    ``tick_kimg``. Segments of zero length are skipped.
    """
    rows = []
    total = float(sched.total_kimg)
    resolution_log2 = int(math.log2(img_resolution))
    num_phases = resolution_log2 - int(math.floor(math.log2(sched.initial_resolution)))
    bounds = []  # (start_kimg, end_kimg)
    start = 0.0
    for _ in range(num_phases):
        for length in (sched.lod_training_kimg, sched.lod_transition_kimg):
            if length > 0:
                bounds.append((start, start + length))
                start += length
    bounds.append((start, math.inf))
    for lo, hi in bounds:
        if lo >= total:
            break
        # Sample just inside the segment: the official lod at its exact start still belongs to
        # the previous segment (e.g. lod is integral when a fade-in begins).
        probe = lo + min(1e-3, (hi - lo) / 2) if math.isfinite(hi) else lo
        state = training_schedule(int(round(probe * 1000)), sched, img_resolution, num_replicas)
        rows.append(
            {
                "start_kimg": lo,
                "end_kimg": min(hi, total),
                "phase": state.phase,
                "resolution": state.resolution,
                "minibatch": state.minibatch,
                "lr": state.lr,
                "tick_kimg": state.tick_kimg,
            }
        )
    return rows


def format_schedule_table(rows: list[dict]) -> str:
    """A fixed-width text table of :func:`schedule_table` rows."""
    lines = [f"{'kimg':>19}  {'phase':<6} {'res':>5} {'minibatch':>9} {'lr':>8} {'tick_kimg':>9}"]
    for r in rows:
        span = f"{r['start_kimg']:g}-{r['end_kimg']:g}"
        lines.append(
            f"{span:>19}  {r['phase']:<6} {r['resolution']:>5} {r['minibatch']:>9} "
            f"{r['lr']:>8g} {r['tick_kimg']:>9g}"
        )
    return "\n".join(lines)
