"""The compiled training step: one D update, the G_ema update, one G update (one minibatch).

This is the body of the official inner loop (``training_loop.py`` L228-232, ``D_repeats=1``):
``run([D_train_op, Gs_update_op])`` then ``run([G_train_op])``. One ``tf.function`` is built
per ``(stage, minibatch)`` by :func:`make_train_step` and traced once; the fade value is a
variable and the step counter a tensor argument, so nothing retraces within a stage.

Distribution. The step runs under any ``tf.distribute`` strategy. All randomness (z, the
style-mixing z, the mixing coin and crossover, per-layer noise, mirror flips, WGAN-GP mixing
factors) is drawn with stateless ops keyed on ``(seed, step, purpose)`` for the GLOBAL
minibatch; replica ``r`` of ``R`` takes the samples ``r, r + R, r + 2R, ...``. Reals are split
the same way by the loop (:func:`distribute_reals`). With this strided split the minibatch-stddev
groups of the discriminator (sample ``i`` is in group ``i mod (N / 4)``) are the same sets of
samples on ``R`` replicas as on one device, so ``R`` replicas with global batch ``B`` compute what
one device with batch ``B`` computes, up to float summation order. Per-example losses are
averaged with ``tf.nn.compute_average_loss(..., global_batch_size=B)`` and the optimizer sums the
replicas' gradients.

Non-finite gradients: each replica checks its gradients, the flags are summed across replicas,
and if any is non-finite the update is skipped (on every replica) and counted
(``nonfinite_d`` / ``nonfinite_g``). Under mixed precision the ``LossScaleOptimizer`` does the
skipping (and lowers its scale); the counters still count.
"""

from __future__ import annotations

import tensorflow as tf

from datasets.processing import process_reals, random_flip_mask
from networks.generator import mixing_cutoff_from_uniform
from networks.layers import conv_implementation, separable_blur
from training import conv_grad, losses

__all__ = [
    "ema_beta",
    "make_train_step",
    "distribute_reals",
    "update_ema",
    "reset_optimizer",
    "STAT_NAMES",
]

# Purposes of the stateless random draws; the D pass uses 0..31, the G pass 32..63.
_Z, _MIX_Z, _MIX_COIN, _LABEL_PERM, _FLIP, _WGAN_MIX, _NOISE0 = 0, 1, 2, 3, 4, 5, 8
_G_PASS = 32
_PURPOSES_PER_STEP = 64

STAT_NAMES = (
    "Loss/G",
    "Loss/D",
    "Loss/penalty",
    "Loss/scores/real",
    "Loss/scores/fake",
    "Loss/nonfinite_D",
    "Loss/nonfinite_G",
)


def ema_beta(minibatch: int, g_smoothing_kimg: float) -> float:
    """Official G_ema decay per minibatch: ``0.5 ** (minibatch / (g_smoothing_kimg * 1000))``.

    A half-life of ``g_smoothing_kimg`` thousand images; 0 disables the average (beta 0).
    """
    if g_smoothing_kimg <= 0:
        return 0.0
    return 0.5 ** (minibatch / (g_smoothing_kimg * 1000.0))


def _float_vars(variables):
    return [v for v in variables if "float" in str(v.dtype)]


def update_ema(G_ema, G, beta):
    """``G_ema = lerp(G, G_ema, beta)`` for trainables; non-trainables (w_avg, noise) copied.

    Call in cross-replica context (or without a strategy).
    """
    for ve, v in zip(G_ema.trainable_variables, G.trainable_variables):
        ve.assign(v + (ve - v) * beta)
    for ve, v in zip(
        _float_vars(G_ema.non_trainable_variables), _float_vars(G.non_trainable_variables)
    ):
        ve.assign(v)


def check_ema_pair(G_ema, G):
    """Raise if ``G_ema`` and ``G`` do not have matching variable lists."""
    pairs = list(zip(G_ema.trainable_variables, G.trainable_variables)) + list(
        zip(_float_vars(G_ema.non_trainable_variables), _float_vars(G.non_trainable_variables))
    )
    if len(G_ema.trainable_variables) != len(G.trainable_variables):
        raise ValueError("G_ema and G have different numbers of trainable variables")
    for ve, v in pairs:
        if tuple(ve.shape) != tuple(v.shape):
            raise ValueError(f"G_ema variable {ve.path} {ve.shape} != G {v.path} {v.shape}")


def _inner_optimizer(opt):
    return getattr(opt, "inner_optimizer", opt)


def reset_optimizer(opt):
    """Zero the Adam state (moments and iteration count), keeping the learning rate.

    The official ``reset_optimizer_state`` re-initialises every optimizer variable, including
    the bias-correction powers, at each level-of-detail change.
    """
    inner = _inner_optimizer(opt)
    lr_var = getattr(inner, "_learning_rate", None)
    for v in inner.variables:
        if lr_var is not None and v is lr_var:
            continue
        v.assign(tf.zeros(v.shape, v.dtype))


def distribute_reals(strategy, reals):
    """Give replica ``r`` of ``R`` the samples ``r::R`` of the global batch ``reals``."""
    num = strategy.num_replicas_in_sync
    if num == 1:
        return reals

    def value_fn(ctx):
        return reals[ctx.replica_id_in_sync_group :: ctx.num_replicas_in_sync]

    return strategy.experimental_distribute_values_from_function(value_fn)


class _Draws:
    """Every random draw of one step, stateless and keyed on ``(seed, step, purpose)``.

    Each draw is made for the GLOBAL minibatch; :meth:`take` gives replica ``rid`` of ``R`` its
    strided share (samples ``rid, rid + R, ...``). The D pass uses purposes ``0..31``, the G pass
    ``32..63`` (``base``).
    """

    def __init__(self, seed, batch, num_replicas, G, stage, label_table):
        self.seed, self.batch, self.num_replicas = int(seed), batch, num_replicas
        self.z_dim = G.cfg.z_dim
        self.mixing_prob = G.cfg.style_mixing_prob
        self.cur_layers = G.synthesis.num_layers_at(stage)
        self.noise_shapes = G.synthesis.noise_shapes(batch, stage) if G.cfg.use_noise else []
        self.label_table = None
        if label_table is not None:
            self.label_table = tf.constant(label_table, tf.float32)
            self.num_labels = int(self.label_table.shape[0])

    def key(self, step, purpose):
        return tf.stack([tf.constant(self.seed, tf.int64), step * _PURPOSES_PER_STEP + purpose])

    def take(self, t, rid):
        if self.num_replicas == 1:
            return t
        return tf.gather(t, tf.range(rid, self.batch, self.num_replicas))

    def _normal(self, shape, step, purpose, rid):
        return self.take(tf.random.stateless_normal(shape, self.key(step, purpose)), rid)

    def fakes(self, step, base, rid):
        """``(z, mix_z, mixing cutoff, per-layer noise or None)`` of the pass at ``base``."""
        z = self._normal([self.batch, self.z_dim], step, base + _Z, rid)
        mix_z = self._normal([self.batch, self.z_dim], step, base + _MIX_Z, rid)
        coin_u = tf.random.stateless_uniform([2], self.key(step, base + _MIX_COIN))
        cutoff = mixing_cutoff_from_uniform(coin_u[0], coin_u[1], self.cur_layers, self.mixing_prob)
        noise = [
            self._normal(shape, step, base + _NOISE0 + i, rid)
            for i, shape in enumerate(self.noise_shapes)
        ]
        return z, mix_z, cutoff, noise or None

    def flip(self, step, rid):
        """The reals' mirror mask (D pass)."""
        return self.take(random_flip_mask(self.batch, self.key(step, _FLIP)), rid)

    def wgan_mixing(self, step, rid):
        """WGAN-GP's per-sample real/fake mixing factors ``[N, 1, 1, 1]`` (D pass)."""
        u = tf.random.stateless_uniform([self.batch, 1, 1, 1], self.key(step, _WGAN_MIX))
        return self.take(u, rid)

    def d_pass(self, step, rid, mirror, wgan):
        """All draws of the D pass: ``{"fakes", "flip", "mixing"}`` (None where unused)."""
        return {
            "fakes": self.fakes(step, 0, rid),
            "flip": self.flip(step, rid) if mirror else None,
            "mixing": self.wgan_mixing(step, rid) if wgan else None,
        }

    def g_pass(self, step, rid):
        """All draws of the G pass: ``{"fakes", "labels"}`` (labels None if unconditional)."""
        labels = self.g_labels(step, rid) if self.label_table is not None else None
        return {"fakes": self.fakes(step, _G_PASS, rid), "labels": labels}

    def g_labels(self, step, rid):
        """Rows drawn uniformly from the dataset's labels (official ``get_random_labels_tf``)."""
        idx = tf.random.stateless_uniform(
            [self.batch], self.key(step, _G_PASS + _LABEL_PERM), maxval=self.num_labels,
            dtype=tf.int32,
        )  # fmt: skip
        return self.take(tf.gather(self.label_table, idx), rid)


def _xla_compiled(fn):
    """``fn`` compiled with XLA, its blurs traced as separable adds (see ``separable_blur``)."""

    def traced(*args):
        with separable_blur():
            return fn(*args)

    return tf.function(traced, jit_compile=True, autograph=False)


def _all_finite(grads):
    """One reduction: whether every gradient entry is finite (float32 scalar 1 or 0)."""
    flat = tf.concat([tf.reshape(tf.cast(g, tf.float32), [-1]) for g in grads], axis=0)
    return tf.cast(tf.reduce_all(tf.math.is_finite(flat)), tf.float32)


class _TrainStep:
    """The pieces of the compiled step, grouped: the random draws (:class:`_Draws`), the D step
    (:meth:`d_grads`, :meth:`d_step`), the G step (:meth:`g_grads`, :meth:`g_step`) and the
    guarded optimizer update they share (:meth:`_update`). See :func:`make_train_step`."""

    def __init__(self, strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, *, stage, batch,
                 training_cfg, seed, xla, mixed_precision, label_table):  # fmt: skip
        self.strategy, self.G, self.D, self.G_ema = strategy, G, D, G_ema
        self.G_opt, self.D_opt, self.alpha, self.nonfinite = G_opt, D_opt, alpha, nonfinite
        self.stage, self.batch, self.cfg = stage, batch, training_cfg
        self.mixed_precision = mixed_precision
        self.conditional = bool(G.cfg.c_dim)
        self.beta = ema_beta(batch, training_cfg.g_smoothing_kimg)
        self.draws = _Draws(
            seed, batch, strategy.num_replicas_in_sync, G, stage,
            label_table if self.conditional else None,
        )  # fmt: skip
        # Indices of the variables a stage trains (layers it does not use get no gradient);
        # static per trace, filled by _pick.
        self.var_index = {"D": None, "G": None}
        if xla:
            self.d_grads = _xla_compiled(self.d_grads)
            self.g_grads = _xla_compiled(self.g_grads)

    # -- shared pieces ----------------------------------------------------------------------

    def _generate(self, fakes_in, c):
        z, mix_z, cutoff, noise = fakes_in
        return self.G(z, c, training=True, stage=self.stage, alpha=self.alpha, noise=noise,
                      mix_z=mix_z, mixing_cutoff=cutoff)  # fmt: skip

    def _discriminate(self, images, c):
        return self.D(images, c, stage=self.stage, alpha=self.alpha)

    def _mean(self, per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.batch)

    def _pick(self, name, grads):
        idx = [i for i, g in enumerate(grads) if g is not None]
        self.var_index[name] = idx
        return [grads[i] for i in idx]

    def _per_replica(self, grads_fn, draw_fn, step, *args):
        """Draw this replica's random inputs, run ``grads_fn`` on them; add the all-replica
        count of non-finite flags. The draws stay outside ``grads_fn`` (which XLA may compile:
        its stateless random ops give other values than TensorFlow's kernels)."""
        ctx = tf.distribute.get_replica_context()
        rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        grads, stats = grads_fn(*args, draw_fn(step, rid), rid)
        bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - _all_finite(grads))
        return grads, stats, bad

    def _update(self, opt, grads, variables, bad, counter_index):
        """Apply ``grads`` unless some replica's were non-finite; count the skipped updates.

        Returns the float32 flag (1 when skipped)."""
        bad_any = self.strategy.experimental_local_results(bad)[0] > 0
        self.nonfinite.assign_add(
            tf.one_hot(counter_index, 2, dtype=tf.int64) * tf.cast(bad_any, tf.int64)
        )

        def do_apply():
            self.strategy.extended.call_for_each_replica(opt.apply, args=(grads, variables))

        if self.mixed_precision:
            do_apply()  # the LossScaleOptimizer skips non-finite updates itself
        else:
            tf.cond(bad_any, lambda: None, do_apply)
        return tf.cast(bad_any, tf.float32)

    def _reduce(self, stats):
        sum_ = tf.distribute.ReduceOp.SUM
        return {k: self.strategy.reduce(sum_, v, axis=None) for k, v in stats.items()}

    # -- D step -----------------------------------------------------------------------------

    def d_grads(self, reals_local, labels, rand, rid):
        """D's gradients and loss terms on this replica's share of the minibatch.

        ``rand``: this replica's draws of the D pass (:meth:`_Draws.d_pass`)."""
        kind, opt = self.cfg.loss, self.D_opt
        # The official D loss conditions the fakes on the reals' labels.
        c_real = self.draws.take(labels, rid) if self.conditional else None
        reals = process_reals(reals_local, self.alpha, rand["flip"])
        fakes = self._generate(rand["fakes"], c_real)
        mixing = rand["mixing"]
        with tf.GradientTape() as tape:
            terms = losses.d_loss(
                kind,
                lambda x: self._discriminate(x, c_real),
                reals,
                fakes,
                r1_gamma=self.cfg.r1_gamma,
                wgan_lambda=self.cfg.wgan_lambda,
                wgan_epsilon=self.cfg.wgan_epsilon,
                mixing_factors=mixing,
                loss_scale=tf.cast(opt.dynamic_scale, tf.float32) if self.mixed_precision else 1.0,
            )
            loss = self._mean(terms["total"])
            scaled = opt.scale_loss(loss) if self.mixed_precision else loss
        grads = self._pick("D", tape.gradient(scaled, self.D.trainable_variables))
        stats = {
            "Loss/D": loss,
            "Loss/penalty": self._mean(terms["penalty"]),
            "Loss/scores/real": self._mean(terms["real_scores"]),
            "Loss/scores/fake": self._mean(terms["fake_scores"]),
        }
        return grads, stats

    def _d_draws(self, step, rid):
        return self.draws.d_pass(step, rid, self.cfg.mirror_augment, self.cfg.loss == "wgan_gp")

    def d_step(self, reals, labels, step):
        grads, stats, bad = self.strategy.run(
            self._per_replica, args=(self.d_grads, self._d_draws, step, reals, labels)
        )
        variables = [self.D.trainable_variables[i] for i in self.var_index["D"]]
        return stats, self._update(self.D_opt, grads, variables, bad, 0)

    # -- G step -----------------------------------------------------------------------------

    def g_grads(self, rand, rid):
        """G's gradients and loss on this replica's share of the minibatch.

        ``rand``: this replica's draws of the G pass (:meth:`_Draws.g_pass`); the G pass
        conditions on labels drawn from the dataset's table, not on the reals' labels."""
        del rid
        opt, c = self.G_opt, rand["labels"]
        with tf.GradientTape() as tape:
            scores = self._discriminate(self._generate(rand["fakes"], c), c)
            loss = self._mean(losses.g_loss(self.cfg.loss, scores))
            scaled = opt.scale_loss(loss) if self.mixed_precision else loss
        grads = self._pick("G", tape.gradient(scaled, self.G.trainable_variables))
        return grads, {"Loss/G": loss}

    def g_step(self, step):
        grads, stats, bad = self.strategy.run(
            self._per_replica, args=(self.g_grads, self.draws.g_pass, step)
        )
        variables = [self.G.trainable_variables[i] for i in self.var_index["G"]]
        return stats, self._update(self.G_opt, grads, variables, bad, 1)

    # -- the minibatch ----------------------------------------------------------------------

    def __call__(self, reals, labels, step):
        d_stats, d_bad = self.d_step(reals, labels, step)
        update_ema(self.G_ema, self.G, self.beta)
        g_stats, g_bad = self.g_step(step)
        out = self._reduce({**d_stats, **g_stats})
        out["Loss/nonfinite_D"] = d_bad
        out["Loss/nonfinite_G"] = g_bad
        return out


def make_train_step(
    strategy,
    G,
    D,
    G_ema,
    G_opt,
    D_opt,
    alpha,
    nonfinite,
    *,
    stage: int,
    batch: int,
    training_cfg,
    seed: int,
    xla: bool = False,
    mixed_precision: bool = False,
    label_table=None,
):
    """Build the compiled step for one ``(stage, batch)``.

    Args:
        strategy: the ``tf.distribute`` strategy the models were built under.
        G, D, G_ema: the networks; G_opt, D_opt: their optimizers.
        alpha: scalar float variable, the fade-in of ``stage``.
        nonfinite: int64 variable ``[2]`` counting skipped D and G updates.
        stage: resolution to train (Python int).
        batch: global minibatch size (Python int), divisible by the number of replicas.
        training_cfg: :class:`stylegan_tf.config.TrainingConfig`.
        seed: base seed of the stateless random draws.
        xla: compile the per-replica compute with XLA (``jit_compile``).
        mixed_precision: the optimizers are ``LossScaleOptimizer``\\ s.
        label_table: float32 ``[num_images, c_dim]``, the dataset's labels (conditional
            networks only): the G pass conditions on rows drawn uniformly from it.

    Returns:
        ``step_fn(reals, labels, step) -> dict`` of the scalars in :data:`STAT_NAMES`.
        ``reals`` is the uint8 global batch split by :func:`distribute_reals`, ``labels`` the
        float32 global labels ``[batch, label_dim]`` (replicated), ``step`` an int64 scalar
        tensor (the minibatch index, which keys the random draws).
    """
    num_replicas = strategy.num_replicas_in_sync
    if batch % num_replicas:
        raise ValueError(f"minibatch {batch} is not divisible by {num_replicas} replicas")
    c_dim = G.cfg.c_dim
    if c_dim and (label_table is None or len(label_table) == 0):
        raise ValueError(f"a conditional generator (c_dim={c_dim}) needs the label_table")
    parts = _TrainStep(
        strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=stage, batch=batch,
        training_cfg=training_cfg, seed=seed, xla=xla, mixed_precision=mixed_precision,
        label_table=label_table,
    )  # fmt: skip

    def traced(reals, labels, step):
        # The networks' convolutions get gradients computed by forward convolutions
        # (training/conv_grad.py): the same values up to float32 summation order, faster here.
        with conv_implementation(conv_grad.conv2d):
            return parts(reals, labels, step)

    # autograph=False: the step has no Python control flow on tensors (its tf.cond is explicit),
    # and AutoGraph's source conversion took about half of the trace time (~4 s per process).
    step_fn = tf.function(traced, autograph=False)
    step_fn.stage = stage
    step_fn.batch = batch
    step_fn.ema_beta = parts.beta
    return step_fn
