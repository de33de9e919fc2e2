"""The training loop (official ``training/training_loop.py``), reading top to bottom.

``training_loop(cfg, run_dir, data, options)``:

1. creates the distribution strategy and opens the dataset;
2. builds G, D, G_ema (a copy of G) and the two Adam optimizers inside the strategy's scope;
3. restores the latest checkpoint (``resume="auto"``) or a given one;
4. repeats: evaluate the schedule at the images seen so far (:mod:`training.schedule`), reset
   Adam when the level of detail crosses an integer, set the learning rate and fade-in, run
   ``minibatch_repeats`` (4) compiled steps (:mod:`training.step`; D update, G_ema update,
   G update), and at the end of each tick log stats, save image grids, write a checkpoint and,
   every ``network_snapshot_ticks``, a ``.keras`` snapshot of G_ema (plus metrics);
5. at ``total_kimg`` exports G_ema as a SavedModel.

SIGTERM makes the loop write a checkpoint between two minibatches and stop (status
``"preempted"``); rerunning with ``resume="auto"`` continues the same schedule. Reals come from
a pipeline that is re-created, with a seed derived from the tick, at every tick start and
stage change, and all other randomness is keyed on the minibatch index, so a run resumed from a
tick-boundary checkpoint repeats the uninterrupted run (bit-exactly with
``tf.config.experimental.enable_op_determinism()``).
"""

from __future__ import annotations

import math
import os
import time
import zlib
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from networks import Discriminator, Generator
from stylegan_tf.config import Config
from stylegan_tf.loading import checkpointable
from training import outputs
from training.distribute import (
    Preempted,
    PreemptionWatch,
    is_chief,
    make_strategy,
    worker_id,
)
from training.schedule import needs_optimizer_reset, training_schedule
from training.step import (
    check_ema_pair,
    distribute_reals,
    make_train_step,
    reset_optimizer,
)

__all__ = [
    "LoopOptions",
    "LoopResult",
    "training_loop",
    "check_dataset",
    "build_networks",
    "resolve_resume",
]

_COUNTERS = ("cur_nimg", "step", "cur_tick", "tick_start_nimg", "prev_lod", "train_time")


@dataclass(frozen=True)
class LoopOptions:
    """How to run (not what to train: that is the :class:`Config`).

    Attributes:
        strategy: ``auto``, ``one``, ``mirrored`` or ``multi-worker``.
        xla: compile the per-replica step with XLA.
        mixed_precision: ``mixed_float16`` policy + ``LossScaleOptimizer``.
        resume: ``None`` (fresh start), ``"auto"`` (latest checkpoint in the run directory, if
            any) or a checkpoint path (prefix, checkpoint directory or run directory).
        metrics: metric names to compute at every network snapshot.
        stop_after_ticks: stop (after checkpointing) once this invocation has run that many
            ticks; None runs to ``total_kimg``.
        export: write the SavedModel of G_ema at the end.
        grid_max_images: cap on the image-grid size.
        checkpoints_to_keep: checkpoints kept in ``<run>/checkpoints``.
        print_fn: where progress lines go.
    """

    strategy: str = "auto"
    xla: bool = False
    mixed_precision: bool = False
    resume: str | None = "auto"
    metrics: tuple = ()
    stop_after_ticks: int | None = None
    export: bool = True
    grid_max_images: int = 256
    checkpoints_to_keep: int = 3
    print_fn: object = field(default=print, compare=False)


@dataclass
class LoopResult:
    """How the loop ended: ``status`` is ``done``, ``stopped`` or ``preempted``."""

    status: str
    cur_nimg: int
    cur_tick: int
    run_dir: str
    resumed_from: str | None = None
    resumed_nimg: int = 0
    nonfinite: tuple = (0, 0)
    models: dict = field(default_factory=dict, repr=False)


def check_dataset(cfg: Config, ds) -> None:
    """Raise ``ValueError`` (one line) if the dataset cannot train ``cfg``."""
    res, ch = cfg.G.img_resolution, cfg.G.img_channels
    if ds.resolution != res:
        raise ValueError(f"dataset resolution {ds.resolution} != network resolution {res}")
    if ds.channels != ch:
        raise ValueError(f"dataset has {ds.channels} channel(s) but the networks expect {ch}")
    needed = [
        r for r in (2**k for k in range(2, 20)) if cfg.schedule.initial_resolution <= r <= res
    ]
    missing = [r for r in needed if r not in ds.resolutions]
    if missing:
        raise ValueError(f"dataset lacks resolution(s) {missing} needed by the schedule")
    if cfg.G.c_dim and ds.label_dim != cfg.G.c_dim:
        raise ValueError(f"networks need {cfg.G.c_dim}-d labels, dataset has {ds.label_dim}")


def resolve_resume(resume: str | None, checkpoint_dir: str) -> str | None:
    """The checkpoint prefix to restore, or None to start fresh."""
    if resume is None or resume == "none":
        return None
    if resume == "auto":
        return tf.train.latest_checkpoint(checkpoint_dir)
    path = os.fspath(resume)
    for candidate in (path, os.path.join(path, outputs.CHECKPOINT_DIR)):
        if os.path.isdir(candidate):
            found = tf.train.latest_checkpoint(candidate)
            if found:
                return found
    if tf.io.gfile.exists(path + ".index"):
        return path
    raise FileNotFoundError(f"no checkpoint found at {path!r}")


def build_networks(cfg: Config, mixed_precision: bool = False):
    """G, D and G_ema (G_ema starts as an exact copy of G, as the official ``G.clone``)."""
    previous = keras.config.dtype_policy().name
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        G = Generator.from_gconfig(cfg.G, name="G")
        D = Discriminator.from_dconfig(cfg.D, name="D")
        G_ema = Generator.from_gconfig(cfg.G, name="G_ema")
    finally:
        keras.config.set_dtype_policy(previous)
    for ve, v in zip(G_ema.variables, G.variables):
        ve.assign(v)
    check_ema_pair(G_ema, G)
    return G, D, G_ema


def _adam(tcfg, mixed_precision):
    opt = keras.optimizers.Adam(
        learning_rate=0.0,
        beta_1=tcfg.adam_beta1,
        beta_2=tcfg.adam_beta2,
        epsilon=tcfg.adam_epsilon,  # Keras' default 1e-7 is not the official 1e-8
    )
    return keras.optimizers.LossScaleOptimizer(opt) if mixed_precision else opt


def _data_seed(seed: int, tick: int, resolution: int, offset_nimg: int) -> int:
    return zlib.crc32(f"{seed}/{tick}/{resolution}/{offset_nimg}".encode()) & 0x7FFFFFFF


def _mean_stats(stats: list[dict]) -> dict:
    if not stats:
        return {}
    return {k: float(np.mean([float(s[k]) for s in stats])) for k in stats[0]}


def training_loop(
    cfg: Config, run_dir: str, data, options: LoopOptions = LoopOptions(), strategy=None
) -> LoopResult:
    """Train ``cfg`` on ``data`` (a dataset path or an opened dataset) into ``run_dir``."""
    say = options.print_fn
    tcfg, scfg = cfg.training, cfg.schedule
    resolution = cfg.G.img_resolution

    # 1. Strategy and data. MultiWorkerMirroredStrategy must exist before other TF work.
    strategy = strategy or make_strategy(options.strategy)
    if not hasattr(data, "make_dataset"):
        import datasets

        data = datasets.open_dataset(data)
    ds = data
    check_dataset(cfg, ds)
    num_replicas = strategy.num_replicas_in_sync
    chief = is_chief(strategy)
    os.makedirs(run_dir, exist_ok=True)
    log = outputs.RunLog(run_dir, enabled=chief, print_fn=say)

    # 2. Networks, optimizers and counters, created in the strategy's scope. The seed makes the
    # initial weights reproducible (official rnd.np_random_seed), on any number of replicas.
    keras.utils.set_random_seed(tcfg.seed)
    with strategy.scope():
        G, D, G_ema = build_networks(cfg, options.mixed_precision)
        G_opt = _adam(tcfg, options.mixed_precision)
        D_opt = _adam(tcfg, options.mixed_precision)
        G_opt.build(G.trainable_variables)
        D_opt.build(D.trainable_variables)
        alpha = tf.Variable(1.0, trainable=False, name="alpha")
        nonfinite = tf.Variable([0, 0], dtype=tf.int64, trainable=False, name="nonfinite")
        counters = {
            name: tf.Variable(
                0.0 if name in ("prev_lod", "train_time") else 0,
                dtype=tf.float64 if name in ("prev_lod", "train_time") else tf.int64,
                trainable=False,
                name=name,
            )
            for name in _COUNTERS
        }
        seed_var = tf.Variable(tcfg.seed, dtype=tf.int64, trainable=False, name="seed")
    checkpoint = tf.train.Checkpoint(
        G=checkpointable(G),
        D=checkpointable(D),
        G_ema=checkpointable(G_ema),
        G_opt=G_opt,
        D_opt=D_opt,
        nonfinite=nonfinite,
        seed=seed_var,
        **counters,
    )
    ckpt = outputs.CheckpointWriter(
        checkpoint,
        run_dir,
        chief=chief,
        worker=worker_id(strategy),
        max_to_keep=options.checkpoints_to_keep,
    )

    # 3. Resume: every counter, the networks, G_ema, both Adam states and the RNG position.
    progress = {
        "cur_nimg": 0,
        "step": 0,
        "cur_tick": 0,
        "tick_start_nimg": 0,
        "prev_lod": -1.0,
        "train_time": 0.0,
    }
    resume_path = resolve_resume(options.resume, ckpt.directory)
    if resume_path:
        checkpoint.restore(resume_path).assert_existing_objects_matched()
        progress = {k: counters[k].numpy().item() for k in _COUNTERS}
        if int(seed_var.numpy()) != tcfg.seed:
            say(
                f"note: checkpoint was trained with seed {int(seed_var.numpy())}, "
                f"continuing with {tcfg.seed}"
            )
        say(
            f"resumed from {resume_path} at kimg {progress['cur_nimg'] / 1000:.3f} "
            f"(tick {progress['cur_tick']})"
        )
    resumed_nimg = int(progress["cur_nimg"])
    cur_nimg, step, cur_tick = (int(progress[k]) for k in ("cur_nimg", "step", "cur_tick"))
    tick_start_nimg, prev_lod = int(progress["tick_start_nimg"]), float(progress["prev_lod"])
    base_train_time = float(progress["train_time"])
    total_nimg = int(round(scfg.total_kimg * 1000))
    session_start = time.time()

    def train_time():
        return base_train_time + (time.time() - session_start)

    def save_checkpoint():
        values = {
            "cur_nimg": cur_nimg,
            "step": step,
            "cur_tick": cur_tick,
            "tick_start_nimg": tick_start_nimg,
            "prev_lod": prev_lod,
            "train_time": train_time(),
        }
        for name, value in values.items():
            counters[name].assign(value)
        seed_var.assign(tcfg.seed)
        return ckpt.save(cur_nimg)

    # Snapshot grid: fixed reals and latents; fakes come from G_ema (stored noise) at the
    # current stage, upscaled to full resolution like the official Gs output.
    G_plain = Generator.from_gconfig(cfg.G, name="G_snapshot")  # outside the strategy
    grid_size = outputs.grid_size_for(resolution, options.grid_max_images)
    grid_n = grid_size[0] * grid_size[1]
    grid_iter = iter(ds.make_dataset(resolution, grid_n, seed=tcfg.seed))
    grid_reals, grid_labels = ds.next_batch(grid_iter, resolution)  # names a damaged shard
    grid_labels = grid_labels.numpy() if cfg.G.c_dim else None
    grid_z = np.random.RandomState(tcfg.seed).randn(grid_n, cfg.G.z_dim).astype(np.float32)

    def render_grid(stage, fade):
        G_plain.set_weights(G_ema.get_weights())
        images = []
        for i in range(0, grid_n, 64):
            c = None if grid_labels is None else grid_labels[i : i + 64]
            out = G_plain(grid_z[i : i + 64], c, stage=stage, alpha=float(fade), noise_mode="const")
            images.append(np.asarray(out, np.float32))
        return outputs.upscale_to(np.concatenate(images), resolution)

    def network_snapshot():
        G_plain.set_weights(G_ema.get_weights())
        path = outputs.save_network_snapshot(
            G_plain, os.path.join(run_dir, outputs.snapshot_name(cur_nimg))
        )
        if options.metrics:
            _run_metrics(options.metrics, path, G_plain, ds, log, cur_nimg, say,
                         mirror=tcfg.mirror_augment, num_gpus=num_replicas)  # fmt: skip
        return path

    if chief and not resume_path:
        log.grid(
            grid_reals.numpy(), os.path.join(run_dir, "reals.png"), grid_size, 0, "Images/reals"
        )
        sched0 = training_schedule(0, scfg, resolution, num_replicas)
        log.grid(
            render_grid(sched0.resolution, sched0.alpha),
            os.path.join(run_dir, "fakes000000.png"),
            grid_size,
            0,
        )

    # 4. Main loop.
    steps = {}  # (stage, minibatch) -> compiled step, traced once
    data_key, data_iter = None, None
    tick_stats = []
    status = "done"
    ticks_run = 0
    tick_start_time = time.time()
    maintenance_sec = 0.0
    watch = PreemptionWatch(strategy, save_checkpoint)
    say(f"training {scfg.total_kimg:g} kimg on {num_replicas} replica(s) into {run_dir}")
    try:
        while cur_nimg < total_nimg:
            # Schedule for the next minibatch_repeats minibatches (official L219-226).
            sched = training_schedule(cur_nimg, scfg, resolution, num_replicas)
            if tcfg.reset_opt_for_new_lod and needs_optimizer_reset(prev_lod, sched.lod):
                reset_optimizer(G_opt)
                reset_optimizer(D_opt)
            prev_lod = sched.lod
            G_opt.learning_rate.assign(sched.lr)
            D_opt.learning_rate.assign(sched.lr)
            alpha.assign(sched.alpha)

            key = (sched.resolution, sched.minibatch)
            if key not in steps:
                steps[key] = make_train_step(
                    strategy,
                    G,
                    D,
                    G_ema,
                    G_opt,
                    D_opt,
                    alpha,
                    nonfinite,
                    stage=sched.resolution,
                    batch=sched.minibatch,
                    training_cfg=tcfg,
                    seed=tcfg.seed,
                    xla=options.xla,
                    mixed_precision=options.mixed_precision,
                    label_table=ds.labels if cfg.G.c_dim else None,
                )
            step_fn = steps[key]
            if data_key != (key, cur_tick):
                seed = _data_seed(tcfg.seed, cur_tick, sched.resolution, cur_nimg - tick_start_nimg)
                pipeline = ds.make_dataset(sched.resolution, sched.minibatch, seed=seed)
                data_key, data_iter = (key, cur_tick), iter(pipeline)

            for _ in range(scfg.minibatch_repeats):
                reals, labels = ds.next_batch(data_iter, sched.resolution)
                tick_stats.append(
                    step_fn(distribute_reals(strategy, reals), labels, tf.constant(step, tf.int64))
                )
                cur_nimg += sched.minibatch
                step += 1
                watch.check()

            # Maintenance once per tick (official L235-270).
            done = cur_nimg >= total_nimg
            if not (cur_nimg >= tick_start_nimg + sched.tick_kimg * 1000 or done):
                continue
            cur_tick += 1
            ticks_run += 1
            now = time.time()
            tick_kimg = (cur_nimg - tick_start_nimg) / 1000.0
            tick_start_nimg = cur_nimg  # the next tick starts here (and so says the checkpoint)
            tick_time = now - tick_start_time
            maintenance_start = now
            means = _mean_stats(tick_stats)
            tick_stats = []
            counts = nonfinite.numpy().tolist()
            # The checkpoint first: a crash after it loses nothing of this tick.
            save_checkpoint_path = save_checkpoint()
            row = {
                "tick": cur_tick,
                "kimg": cur_nimg / 1000.0,
                "Progress/kimg": cur_nimg / 1000.0,
                "Progress/resolution": sched.resolution,
                "Progress/alpha": sched.alpha,
                "Progress/lod": sched.lod,
                "Progress/minibatch": sched.minibatch,
                "Progress/tick": cur_tick,
                "LR/G": sched.lr,
                "LR/D": sched.lr,
                "Loss/G": means.get("Loss/G", math.nan),
                "Loss/D": means.get("Loss/D", math.nan),
                "Loss/R1" if tcfg.loss == "logistic_r1" else "Loss/GP": means.get(
                    "Loss/penalty", math.nan
                ),
                "Loss/scores/real": means.get("Loss/scores/real", math.nan),
                "Loss/scores/fake": means.get("Loss/scores/fake", math.nan),
                "Loss/nonfinite_D_total": counts[0],
                "Loss/nonfinite_G_total": counts[1],
                "Timing/sec_per_tick": tick_time,
                "Timing/sec_per_kimg": tick_time / max(tick_kimg, 1e-9),
                "Timing/img_per_sec": tick_kimg * 1000.0 / max(tick_time, 1e-9),
                "Timing/maintenance_sec": maintenance_sec,
                "Timing/total_sec": train_time(),
                "Resources/peak_memory_mb": outputs.peak_rss_mb(),
                "checkpoint": os.path.basename(save_checkpoint_path or ""),
                "timestamp": time.time(),
            }
            log.tick(row, step=cur_nimg)
            if chief:  # TensorBoard gets the grid every tick, the PNG every image_snapshot_ticks
                png = cur_tick % tcfg.image_snapshot_ticks == 0 or done
                path = os.path.join(run_dir, f"fakes{cur_nimg // 1000:06d}.png") if png else None
                log.grid(render_grid(sched.resolution, sched.alpha), path, grid_size, cur_nimg)
            if chief and (cur_tick % tcfg.network_snapshot_ticks == 0 or done or cur_tick == 1):
                network_snapshot()
            remaining = (total_nimg - cur_nimg) / 1000.0 * row["Timing/sec_per_kimg"]
            penalty_name = "R1" if tcfg.loss == "logistic_r1" else "GP"
            log.print(
                f"tick {cur_tick:<4d} kimg {cur_nimg / 1000:<8.1f} res {sched.resolution:<4d} "
                f"alpha {sched.alpha:<5.3f} minibatch {sched.minibatch:<4d} "
                f"G {row['Loss/G']:<7.3f} D {row['Loss/D']:<7.3f} "
                f"{penalty_name} {row[f'Loss/{penalty_name}']:<7.3f} "
                f"sec/kimg {row['Timing/sec_per_kimg']:<7.2f} "
                f"time {outputs.format_duration(train_time())} "
                f"ETA {outputs.format_duration(remaining)}"
            )
            tick_start_time = time.time()
            maintenance_sec = tick_start_time - maintenance_start
            if options.stop_after_ticks is not None and ticks_run >= options.stop_after_ticks:
                if not done:
                    status = "stopped"
                    break
    except Preempted:
        status = "preempted"
        say(
            f"SIGTERM: checkpoint written at kimg {cur_nimg / 1000:.3f}; "
            "rerun with --resume auto to continue"
        )
    finally:
        watch.close()

    # 5. Final outputs.
    if status == "done" and chief:
        final = os.path.join(run_dir, outputs.snapshot_name(cur_nimg))
        if not os.path.exists(final):
            network_snapshot()
        if options.export:
            _export(G_plain, G_ema, os.path.join(run_dir, outputs.SAVED_MODEL_DIR), say)
    log.close()
    return LoopResult(
        status=status,
        cur_nimg=cur_nimg,
        cur_tick=cur_tick,
        run_dir=run_dir,
        resumed_from=resume_path,
        resumed_nimg=resumed_nimg,
        nonfinite=tuple(int(v) for v in nonfinite.numpy()),
        models={"G": G, "D": D, "G_ema": G_ema, "G_opt": G_opt, "D_opt": D_opt},
    )


def _export(G_plain, G_ema, out_dir, say):
    """SavedModel of G_ema for serving (``stylegan_tf.export``)."""
    try:
        from stylegan_tf.export import export_saved_model
    except ImportError as e:
        say(f"warning: SavedModel export skipped: stylegan_tf.export is unavailable ({e})")
        return None
    G_plain.set_weights(G_ema.get_weights())
    path = export_saved_model(G_plain, out_dir, overwrite=True)
    say(f"SavedModel of G_ema: {path}")
    return path


def _run_metrics(names, snapshot_path, G, ds, log, cur_nimg, say, *, mirror, num_gpus):
    """Compute each named metric of ``G`` with ``metrics.compute_metrics`` (if installed) and
    log it to ``metric-<name>.jsonl`` and TensorBoard ``Metrics/*``."""
    try:
        from metrics import compute_metrics
    except ImportError as e:
        say(f"warning: metrics {','.join(names)} skipped: {e}")
        return
    for name in names:
        result = compute_metrics(
            G, ds, [name], mirror=mirror, num_gpus=num_gpus, snapshot=snapshot_path, verbose=False
        )
        record = {
            "metric": name,
            "results": result["results"],
            "snapshot": os.path.basename(snapshot_path),
            "kimg": cur_nimg / 1000.0,
            "total_time": result.get("total_time"),
        }
        log.metric(name, record, step=cur_nimg)
        say(f"metric {name} at kimg {cur_nimg / 1000:.1f}: {result['results']}")
