"""The training loop (official ``training/training_loop.py``), in named steps.

``training_loop(cfg, run_dir, data, options)``:

1. creates the distribution strategy and the SIGTERM watch, and opens the dataset
   (:func:`open_training_data`);
2. opens the run directory (:func:`training.outputs.open_run_dir`: its lock, leftovers of killed
   runs removed, the checkpoints to resume from);
3. builds G, D, G_ema (a copy of G) and the two Adam optimizers inside the strategy's scope
   (:class:`_Trainer`) and restores the newest readable checkpoint (:meth:`_Trainer.restore`;
   an unreadable one is reported and the next older one tried);
4. repeats (:meth:`_Trainer.train`) a minibatch group (:meth:`_Trainer.run_group`: evaluate the
   schedule at the images seen so far, reset Adam when the level of detail crosses an integer,
   set the learning rate and fade-in, run ``minibatch_repeats`` (4) compiled steps of
   :mod:`training.step`) and, when a tick ends, its maintenance (:meth:`_Trainer.end_tick`:
   checkpoint, ``stats.jsonl`` row and console line from :mod:`training.outputs`, image grid,
   every ``network_snapshot_ticks`` a ``.keras`` snapshot of G_ema plus metrics);
5. at ``total_kimg`` writes the last snapshot and exports G_ema as a SavedModel.

Exact resume. SIGTERM (or a multi-worker preemption notice) is acted on at the next group
boundary: the group of ``minibatch_repeats`` minibatches in flight is finished (and, if it ends
a tick, the tick's maintenance), then a checkpoint is written and the loop stops (status
``"preempted"``). Every checkpoint holds, besides the networks, G_ema, both Adam states and the
counters, the position inside the tick: the per-minibatch statistics gathered so far and where
the current reals pipeline started (tick, stage, images seen). A resumed run re-creates that
pipeline with the same seed (derived from the tick and the pipeline's start) and skips the
batches already used; every other random draw is keyed on the minibatch index. So a run stopped
at any moment and resumed ends with the same weights as the uninterrupted run (bitwise on one
device with ``tf.config.experimental.enable_op_determinism()``) and the same ``stats.jsonl``
rows (wall-time fields aside). A SIGKILL loses the progress since the last checkpoint (at most
the running tick); the resumed run then repeats it exactly.
"""

from __future__ import annotations

import json
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
    "open_training_data",
    "build_networks",
]

_COUNTERS = ("cur_nimg", "step", "cur_tick", "tick_start_nimg", "prev_lod", "train_time")
_FLOAT_COUNTERS = ("prev_lod", "train_time")
_TICK_STATE_KEY = "tick_state/.ATTRIBUTES/VARIABLE_VALUE"


@dataclass(frozen=True)
class LoopOptions:
    """How to run (not what to train: that is the :class:`Config`).

    Attributes:
        strategy: ``auto``, ``one``, ``mirrored`` or ``multi-worker``.
        xla: compile the per-replica step with XLA.
        mixed_precision: ``mixed_float16`` policy + ``LossScaleOptimizer``.
        resume: ``None`` (fresh start; refused if the run directory holds checkpoints),
            ``"auto"`` (newest readable checkpoint in the run directory, if any) or a checkpoint
            path (prefix, checkpoint directory or run directory).
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


def open_training_data(cfg: Config, data):
    """``data`` (a dataset path, or a dataset already opened by the caller) checked against
    ``cfg``."""
    if not hasattr(data, "make_dataset"):
        import datasets

        data = datasets.open_dataset(data)
    check_dataset(cfg, data)
    return data


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


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "no details"
    return f"{type(error).__name__}: {text[:300]}"


@dataclass
class _TickProgress:
    """The part of the current tick that a mid-tick checkpoint must carry (as JSON).

    ``stats``: per-minibatch statistics so far (dicts of tensors or floats); ``data``: where the
    reals pipeline in use started, ``[tick, resolution, minibatch, nimg]``; ``seconds`` and
    ``compile_seconds``: wall time of the tick before this process (for the timing fields).
    """

    stats: list = field(default_factory=list)
    data: list | None = None
    seconds: float = 0.0
    compile_seconds: float = 0.0

    def to_json(self, seconds_now: float) -> str:
        names = list(self.stats[0]) if self.stats else []
        values = [[float(s[k]) for k in names] for s in self.stats]
        return json.dumps(
            {
                "names": names,
                "stats": values,
                "data": self.data,
                "seconds": seconds_now,
                "compile_seconds": self.compile_seconds,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> _TickProgress:
        if not text:
            return cls()
        d = json.loads(text)
        stats = [dict(zip(d["names"], row)) for row in d["stats"]]
        return cls(stats, d["data"], float(d["seconds"]), float(d["compile_seconds"]))


def training_loop(
    cfg: Config, run_dir, data, options: LoopOptions = LoopOptions(), strategy=None
) -> LoopResult:
    """Train ``cfg`` on ``data`` (a dataset path or an opened dataset) into ``run_dir`` (a path,
    or a :class:`training.outputs.RunDir` already opened by the caller).

    Raises:
        training.outputs.RunDirError: the run directory cannot be used (busy, unwritable, holds
            another run) or none of its checkpoints is readable.
    """
    # MultiWorkerMirroredStrategy must exist before other TF work; SIGTERM is caught from here.
    strategy = strategy or make_strategy(options.strategy)
    watch = PreemptionWatch(strategy)
    own_run_dir = not isinstance(run_dir, outputs.RunDir)
    run = None
    try:
        ds = open_training_data(cfg, data)
        if own_run_dir:
            chief = is_chief(strategy)
            run = outputs.open_run_dir(
                run_dir, cfg, options.resume, chief=chief, log=options.print_fn
            )
        else:
            run = run_dir
        trainer = _Trainer(cfg, strategy, ds, run.path, options)
        try:
            trainer.restore(run.resume_from)
            status = trainer.train(watch)
            trainer.finish(status)
        finally:
            trainer.log.close()
        return trainer.result(status)
    finally:
        watch.close()
        if own_run_dir and run is not None:
            run.close()


class _Trainer:
    """The state of one training process and the loop's steps."""

    def __init__(self, cfg: Config, strategy, ds, run_dir: str, options: LoopOptions):
        self.cfg, self.tcfg, self.scfg = cfg, cfg.training, cfg.schedule
        self.strategy, self.ds, self.run_dir, self.options = strategy, ds, run_dir, options
        self.say = options.print_fn
        self.resolution = cfg.G.img_resolution
        self.num_replicas = strategy.num_replicas_in_sync
        self.chief = is_chief(strategy)
        self.total_nimg = int(round(self.scfg.total_kimg * 1000))
        self.log = outputs.RunLog(run_dir, enabled=self.chief, print_fn=self.say)
        # Progress (restored by ``restore``).
        self.cur_nimg, self.step, self.cur_tick, self.tick_start_nimg = 0, 0, 0, 0
        self.prev_lod, self.base_train_time = -1.0, 0.0
        self.tick = _TickProgress()
        self.resumed_from, self.resumed_nimg = None, 0
        self.saved = (None, None)  # (nimg, path) of the last checkpoint written or restored
        self.steps = {}  # (stage, minibatch) -> compiled step, traced once
        self.compiled = set()
        self.data_iter, self.data_iter_origin = None, None
        self.maintenance_sec = 0.0
        self._build()

    # -- 3. networks, optimizers, checkpoint ---------------------------------------------------

    def _build(self):
        tcfg, options = self.tcfg, self.options
        # The seed makes the initial weights reproducible (official rnd.np_random_seed), on any
        # number of replicas.
        keras.utils.set_random_seed(tcfg.seed)
        with self.strategy.scope():
            self.G, self.D, self.G_ema = build_networks(self.cfg, options.mixed_precision)
            self.G_opt = _adam(tcfg, options.mixed_precision)
            self.D_opt = _adam(tcfg, options.mixed_precision)
            self.G_opt.build(self.G.trainable_variables)
            self.D_opt.build(self.D.trainable_variables)
            self.alpha = tf.Variable(1.0, trainable=False, name="alpha")
            self.nonfinite = tf.Variable([0, 0], dtype=tf.int64, trainable=False, name="nonfinite")
            self.counters = {
                name: tf.Variable(
                    0.0 if name in _FLOAT_COUNTERS else 0,
                    dtype=tf.float64 if name in _FLOAT_COUNTERS else tf.int64,
                    trainable=False,
                    name=name,
                )
                for name in _COUNTERS
            }
            self.seed_var = tf.Variable(tcfg.seed, dtype=tf.int64, trainable=False, name="seed")
        with tf.device("/cpu:0"):  # a string: host memory, not mirrored
            self.tick_state = tf.Variable("", dtype=tf.string, trainable=False, name="tick_state")
        core = dict(
            G=checkpointable(self.G),
            D=checkpointable(self.D),
            G_ema=checkpointable(self.G_ema),
            G_opt=self.G_opt,
            D_opt=self.D_opt,
            nonfinite=self.nonfinite,
            seed=self.seed_var,
            **self.counters,
        )
        self.checkpoint = tf.train.Checkpoint(**core, tick_state=self.tick_state)
        self.legacy_checkpoint = tf.train.Checkpoint(**core)  # written before tick_state
        self.ckpt = outputs.CheckpointWriter(
            self.checkpoint,
            self.run_dir,
            chief=self.chief,
            worker=worker_id(self.strategy),
            max_to_keep=options.checkpoints_to_keep,
        )

    def restore(self, candidates):
        """Restore the first readable checkpoint of ``candidates`` (newest first): the
        networks, G_ema, both Adam states, every counter and the position inside the tick."""
        first_error = None
        for i, prefix in enumerate(candidates):
            try:
                self._restore_from(prefix)
            except Exception as e:  # a corrupt or truncated file raises many kinds of errors
                first_error = first_error or e
                older = candidates[i + 1] if i + 1 < len(candidates) else None
                self.say(
                    f"warning: checkpoint {prefix} is unreadable ({_one_line(e)})"
                    + (f"; trying the older {older}" if older else "")
                )
                continue
            break
        else:
            if candidates:
                raise outputs.RunDirError(
                    f"cannot resume: none of the {len(candidates)} checkpoint(s) is readable, "
                    f"newest {candidates[0]} ({_one_line(first_error)})"
                )
            self._first_grids()
            return
        if self.chief:
            dropped = outputs.truncate_stats(self.run_dir, self.cur_tick)
            if dropped:
                self.say(f"note: dropped {dropped} {outputs.STATS_FILE} row(s) after tick "
                         f"{self.cur_tick}, the resumed checkpoint's")  # fmt: skip

    def _restore_from(self, prefix):
        has_tick_state = tf.train.load_checkpoint(prefix).has_tensor(_TICK_STATE_KEY)
        if not has_tick_state:
            self.tick_state.assign("")
        ckpt = self.checkpoint if has_tick_state else self.legacy_checkpoint
        ckpt.restore(prefix).assert_existing_objects_matched()
        tick = _TickProgress.from_json(self.tick_state.numpy().decode())
        progress = {k: self.counters[k].numpy().item() for k in _COUNTERS}
        self.cur_nimg, self.step = int(progress["cur_nimg"]), int(progress["step"])
        self.cur_tick, self.tick_start_nimg = (
            int(progress["cur_tick"]),
            int(progress["tick_start_nimg"]),
        )
        self.prev_lod, self.base_train_time = progress["prev_lod"], progress["train_time"]
        self.tick = tick
        self.resumed_from, self.resumed_nimg = prefix, self.cur_nimg
        self.saved = (self.cur_nimg, prefix)
        seed = int(self.seed_var.numpy())
        if seed != self.tcfg.seed:
            self.say(
                f"note: checkpoint was trained with seed {seed}, continuing with {self.tcfg.seed}"
            )
        self.say(f"resumed from {prefix} at kimg {self.cur_nimg / 1000:.3f} (tick {self.cur_tick})")

    def save_checkpoint(self) -> str:
        """Write every counter, the tick position and the networks (once per images seen)."""
        if self.saved[0] == self.cur_nimg:
            return self.saved[1]
        values = {
            "cur_nimg": self.cur_nimg,
            "step": self.step,
            "cur_tick": self.cur_tick,
            "tick_start_nimg": self.tick_start_nimg,
            "prev_lod": self.prev_lod,
            "train_time": self.train_time(),
        }
        for name, value in values.items():
            self.counters[name].assign(value)
        self.seed_var.assign(self.tcfg.seed)
        self.tick_state.assign(self.tick.to_json(self._tick_seconds()))
        path = self.ckpt.save(self.cur_nimg)
        self.saved = (self.cur_nimg, path)
        return path

    def train_time(self) -> float:
        return self.base_train_time + (time.time() - self.session_start)

    def _tick_seconds(self) -> float:
        return self.tick.seconds + (time.time() - self.tick_clock)

    # -- grids and snapshots ---------------------------------------------------------------------

    def _grid_setup(self):
        # Fixed reals and latents; fakes come from G_ema (stored noise) at the current stage,
        # upscaled to full resolution like the official Gs output.
        self.G_plain = Generator.from_gconfig(self.cfg.G, name="G_snapshot")  # outside the strategy
        self.grid_size = outputs.grid_size_for(self.resolution, self.options.grid_max_images)
        n = self.grid_size[0] * self.grid_size[1]
        grid_iter = iter(self.ds.make_dataset(self.resolution, n, seed=self.tcfg.seed))
        reals, labels = self.ds.next_batch(grid_iter, self.resolution)  # names a damaged shard
        self.grid_reals = reals
        self.grid_labels = labels.numpy() if self.cfg.G.c_dim else None
        self.grid_z = np.random.RandomState(self.tcfg.seed).randn(n, self.cfg.G.z_dim)
        self.grid_z = self.grid_z.astype(np.float32)

    def render_grid(self, stage, fade):
        self.G_plain.set_weights(self.G_ema.get_weights())
        images = []
        for i in range(0, len(self.grid_z), 64):
            c = None if self.grid_labels is None else self.grid_labels[i : i + 64]
            out = self.G_plain(
                self.grid_z[i : i + 64], c, stage=stage, alpha=float(fade), noise_mode="const"
            )
            images.append(np.asarray(out, np.float32))
        return outputs.upscale_to(np.concatenate(images), self.resolution)

    def _first_grids(self):
        """``reals.png`` and the grid at 0 images (a fresh run only)."""
        if not self.chief:
            return
        self._ensure_grid()
        path = os.path.join(self.run_dir, outputs.REALS_GRID)
        self.log.grid(self.grid_reals.numpy(), path, self.grid_size, 0, "Images/reals")
        sched0 = training_schedule(0, self.scfg, self.resolution, self.num_replicas)
        path = os.path.join(self.run_dir, outputs.grid_name(0))
        self.log.grid(self.render_grid(sched0.resolution, sched0.alpha), path, self.grid_size, 0)

    def _ensure_grid(self):
        if not hasattr(self, "G_plain"):
            self._grid_setup()

    def network_snapshot(self):
        self._ensure_grid()
        self.G_plain.set_weights(self.G_ema.get_weights())
        path = os.path.join(self.run_dir, outputs.snapshot_name(self.cur_nimg))
        outputs.save_network_snapshot(self.G_plain, path)
        if self.options.metrics:
            _run_metrics(self.options.metrics, path, self.G_plain, self.ds, self.log,
                         self.cur_nimg, self.say, mirror=self.tcfg.mirror_augment,
                         num_gpus=self.num_replicas)  # fmt: skip
        return path

    # -- 4. the loop -------------------------------------------------------------------------------

    def train(self, watch) -> str:
        """Run groups (and tick maintenance) to ``total_kimg``; ``done``, ``stopped`` or
        ``preempted``."""
        self._ensure_grid()
        self.session_start = self.tick_clock = time.time()
        start_nimg, ticks_run = self.cur_nimg, 0
        scfg = self.scfg
        self.say(f"training {scfg.total_kimg:g} kimg on {self.num_replicas} replica(s) "
                 f"into {self.run_dir}")  # fmt: skip
        try:
            while self.cur_nimg < self.total_nimg:
                if watch.requested and self.cur_nimg == start_nimg:
                    self.say("SIGTERM before the first minibatch: nothing new to save")
                    return "preempted"
                sched = self.run_group()
                done = self.cur_nimg >= self.total_nimg
                if done or self.cur_nimg >= self.tick_start_nimg + sched.tick_kimg * 1000:
                    self.end_tick(sched, done)
                    ticks_run += 1
                    if not done and ticks_run == self.options.stop_after_ticks:
                        return "stopped"
                if not done:
                    watch.check(self.save_checkpoint)
        except Preempted:
            self.say(
                f"SIGTERM: checkpoint written at kimg {self.cur_nimg / 1000:.3f}; "
                "rerun with --resume auto to continue"
            )
            return "preempted"
        return "done"

    def run_group(self):
        """One schedule evaluation and ``minibatch_repeats`` minibatches (official L219-233)."""
        sched = training_schedule(self.cur_nimg, self.scfg, self.resolution, self.num_replicas)
        if self.tcfg.reset_opt_for_new_lod and needs_optimizer_reset(self.prev_lod, sched.lod):
            reset_optimizer(self.G_opt)
            reset_optimizer(self.D_opt)
        self.prev_lod = sched.lod
        self.G_opt.learning_rate.assign(sched.lr)
        self.D_opt.learning_rate.assign(sched.lr)
        self.alpha.assign(sched.alpha)
        step_fn = self._step_fn(sched)
        batches = self._batches(sched)
        for _ in range(self.scfg.minibatch_repeats):
            reals, labels = self.ds.next_batch(batches, sched.resolution)
            self._run_step(step_fn, sched, reals, labels)
        return sched

    def _run_step(self, step_fn, sched, reals, labels):
        key = (sched.resolution, sched.minibatch)
        first = key not in self.compiled
        start = time.time()
        reals = distribute_reals(self.strategy, reals)
        stats = step_fn(reals, labels, tf.constant(self.step, tf.int64))
        if first:  # tracing and compiling: not training speed
            next(iter(stats.values())).numpy()
            self.tick.compile_seconds += time.time() - start
            self.compiled.add(key)
        self.tick.stats.append(stats)
        self.cur_nimg += sched.minibatch
        self.step += 1

    def _step_fn(self, sched):
        key = (sched.resolution, sched.minibatch)
        if key not in self.steps:
            start = time.time()
            self.steps[key] = make_train_step(
                self.strategy,
                self.G,
                self.D,
                self.G_ema,
                self.G_opt,
                self.D_opt,
                self.alpha,
                self.nonfinite,
                stage=sched.resolution,
                batch=sched.minibatch,
                training_cfg=self.tcfg,
                seed=self.tcfg.seed,
                xla=self.options.xla,
                mixed_precision=self.options.mixed_precision,
                label_table=self.ds.labels if self.cfg.G.c_dim else None,
            )
            self.tick.compile_seconds += time.time() - start
        return self.steps[key]

    def _batches(self, sched):
        """The reals iterator for this group. A pipeline is created at every tick start and
        stage change, seeded from the tick and its start; after a resume it is re-created from
        the recorded start and the batches already used are skipped."""
        key = [self.cur_tick, sched.resolution, sched.minibatch]
        if self.tick.data is None or self.tick.data[:3] != key:
            self.tick.data = [*key, self.cur_nimg]
        if self.data_iter is None or self.data_iter_origin != self.tick.data:
            start = self.tick.data[3]
            seed = _data_seed(self.tcfg.seed, self.cur_tick, sched.resolution,
                              start - self.tick_start_nimg)  # fmt: skip
            pipeline = self.ds.make_dataset(sched.resolution, sched.minibatch, seed=seed)
            used = (self.cur_nimg - start) // sched.minibatch
            if used:
                pipeline = pipeline.skip(used)
            self.data_iter, self.data_iter_origin = iter(pipeline), list(self.tick.data)
        return self.data_iter

    def end_tick(self, sched, done):
        """Tick maintenance (official L235-270): checkpoint first (a crash after it loses
        nothing of this tick), then stats, console line, grid, snapshot and metrics."""
        now = time.time()
        tick_sec, compile_sec = self._tick_seconds(), self.tick.compile_seconds
        tick_nimg = self.cur_nimg - self.tick_start_nimg
        means = _mean_stats(self.tick.stats)
        self.cur_tick += 1
        self.tick_start_nimg = self.cur_nimg  # the next tick starts here (and so says the ckpt)
        self.tick, self.tick_clock = _TickProgress(), now
        checkpoint = self.save_checkpoint()
        row = outputs.tick_row(
            tick=self.cur_tick,
            cur_nimg=self.cur_nimg,
            sched=sched,
            loss=self.tcfg.loss,
            means=means,
            nonfinite=self.nonfinite.numpy().tolist(),
            tick_nimg=tick_nimg,
            tick_sec=tick_sec,
            compile_sec=compile_sec,
            maintenance_sec=self.maintenance_sec,
            total_sec=self.train_time(),
            checkpoint=checkpoint,
        )
        self.log.tick(row, step=self.cur_nimg)
        if self.chief:  # TensorBoard gets the grid every tick, the PNG every image_snapshot_ticks
            png = self.cur_tick % self.tcfg.image_snapshot_ticks == 0 or done
            path = os.path.join(self.run_dir, outputs.grid_name(self.cur_nimg)) if png else None
            grid = self.render_grid(sched.resolution, sched.alpha)
            self.log.grid(grid, path, self.grid_size, self.cur_nimg)
            if self.cur_tick % self.tcfg.network_snapshot_ticks == 0 or done or self.cur_tick == 1:
                self.network_snapshot()
        self.log.print(outputs.tick_line(row, self.scfg.total_kimg))
        self.tick_clock = time.time()
        self.maintenance_sec = self.tick_clock - now

    # -- 5. final outputs ------------------------------------------------------------------------

    def finish(self, status):
        if status != "done" or not self.chief:
            return
        if not os.path.exists(os.path.join(self.run_dir, outputs.snapshot_name(self.cur_nimg))):
            self.network_snapshot()
        if self.options.export:
            _export(self.G_plain, self.G_ema, os.path.join(self.run_dir, outputs.SAVED_MODEL_DIR),
                    self.say)  # fmt: skip

    def result(self, status) -> LoopResult:
        return LoopResult(
            status=status,
            cur_nimg=self.cur_nimg,
            cur_tick=self.cur_tick,
            run_dir=self.run_dir,
            resumed_from=self.resumed_from,
            resumed_nimg=self.resumed_nimg,
            nonfinite=tuple(int(v) for v in self.nonfinite.numpy()),
            models={
                "G": self.G,
                "D": self.D,
                "G_ema": self.G_ema,
                "G_opt": self.G_opt,
                "D_opt": self.D_opt,
            },
        )


def _export(G_plain, G_ema, out_dir, say):
    """SavedModel of G_ema for serving (``stylegan_tf.export``)."""
    from stylegan_tf.export import export_saved_model

    G_plain.set_weights(G_ema.get_weights())
    path = export_saved_model(G_plain, out_dir, overwrite=True)
    say(f"SavedModel of G_ema: {path}")
    return path


def _run_metrics(names, snapshot_path, G, ds, log, cur_nimg, say, *, mirror, num_gpus):
    """Compute each named metric of ``G`` with ``metrics.compute_metrics`` and log it to
    ``metric-<name>.jsonl`` and TensorBoard ``Metrics/*``."""
    from metrics import compute_metrics

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
