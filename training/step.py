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
from training import losses

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
    kind = training_cfg.loss
    cfg_g = G.cfg
    c_dim = cfg_g.c_dim
    cur_layers = G.synthesis.num_layers_at(stage)
    noise_shapes = G.synthesis.noise_shapes(batch, stage) if cfg_g.use_noise else []
    beta = ema_beta(batch, training_cfg.g_smoothing_kimg)
    mirror = training_cfg.mirror_augment
    seed = int(seed)
    if c_dim:
        if label_table is None or len(label_table) == 0:
            raise ValueError(f"a conditional generator (c_dim={c_dim}) needs the label_table")
        label_table = tf.constant(label_table, tf.float32)
        num_labels = int(label_table.shape[0])

    def key(step, purpose):
        return tf.stack([tf.constant(seed, tf.int64), step * _PURPOSES_PER_STEP + purpose])

    def take(t, rid):
        # The replica's strided share of a global-batch tensor.
        if num_replicas == 1:
            return t
        return tf.gather(t, tf.range(rid, batch, num_replicas))

    def fake_inputs(step, base, rid, labels):
        z = take(tf.random.stateless_normal([batch, cfg_g.z_dim], key(step, base + _Z)), rid)
        mix_z = take(
            tf.random.stateless_normal([batch, cfg_g.z_dim], key(step, base + _MIX_Z)), rid
        )
        coin_u = tf.random.stateless_uniform([2], key(step, base + _MIX_COIN))
        cutoff = mixing_cutoff_from_uniform(
            coin_u[0], coin_u[1], cur_layers, cfg_g.style_mixing_prob
        )
        noise = [
            take(tf.random.stateless_normal(shape, key(step, base + _NOISE0 + i)), rid)
            for i, shape in enumerate(noise_shapes)
        ] or None
        return z, mix_z, cutoff, noise

    def generate(z, c, mix_z, cutoff, noise):
        return G(
            z,
            c,
            training=True,
            stage=stage,
            alpha=alpha,
            noise=noise,
            mix_z=mix_z,
            mixing_cutoff=cutoff,
        )

    def loss_scale(opt):
        if mixed_precision:
            return tf.cast(opt.dynamic_scale, tf.float32)
        return 1.0

    grad_index = {"D": None, "G": None}

    def pick_grads(name, grads):
        # Layers a stage does not use get no gradient; the set is static per trace.
        idx = [i for i, g in enumerate(grads) if g is not None]
        grad_index[name] = idx
        return [grads[i] for i in idx]

    def d_compute(reals_local, labels, step, rid):
        c_real = take(labels, rid) if c_dim else None
        flip = take(random_flip_mask(batch, key(step, _FLIP)), rid) if mirror else None
        reals = process_reals(reals_local, alpha, flip)
        # The official D loss conditions the fakes on the reals' labels.
        z, mix_z, cutoff, noise = fake_inputs(step, 0, rid, labels)
        fakes = generate(z, c_real, mix_z, cutoff, noise)
        mixing = None
        if kind == "wgan_gp":
            u = tf.random.stateless_uniform([batch, 1, 1, 1], key(step, _WGAN_MIX))
            mixing = take(u, rid)
        with tf.GradientTape() as tape:
            terms = losses.d_loss(
                kind,
                lambda x: D(x, c_real, stage=stage, alpha=alpha),
                reals,
                fakes,
                r1_gamma=training_cfg.r1_gamma,
                wgan_lambda=training_cfg.wgan_lambda,
                wgan_epsilon=training_cfg.wgan_epsilon,
                mixing_factors=mixing,
                loss_scale=loss_scale(D_opt),
            )
            loss = tf.nn.compute_average_loss(terms["total"], global_batch_size=batch)
            scaled = D_opt.scale_loss(loss) if mixed_precision else loss
        grads = pick_grads("D", tape.gradient(scaled, D.trainable_variables))
        stats = {
            "Loss/D": loss,
            "Loss/penalty": tf.nn.compute_average_loss(terms["penalty"], global_batch_size=batch),
            "Loss/scores/real": tf.nn.compute_average_loss(
                terms["real_scores"], global_batch_size=batch
            ),
            "Loss/scores/fake": tf.nn.compute_average_loss(
                terms["fake_scores"], global_batch_size=batch
            ),
        }
        return grads, stats

    def g_compute(labels, step, rid):
        c = None
        if c_dim:
            # The official G loss draws random labels of the dataset (get_random_labels_tf).
            idx = tf.random.stateless_uniform(
                [batch], key(step, _G_PASS + _LABEL_PERM), maxval=num_labels, dtype=tf.int32
            )
            c = take(tf.gather(label_table, idx), rid)
        z, mix_z, cutoff, noise = fake_inputs(step, _G_PASS, rid, labels)
        with tf.GradientTape() as tape:
            fakes = generate(z, c, mix_z, cutoff, noise)
            scores = D(fakes, c, stage=stage, alpha=alpha)
            loss = tf.nn.compute_average_loss(losses.g_loss(kind, scores), global_batch_size=batch)
            scaled = G_opt.scale_loss(loss) if mixed_precision else loss
        grads = pick_grads("G", tape.gradient(scaled, G.trainable_variables))
        return grads, {"Loss/G": loss}

    if xla:
        d_compute = tf.function(d_compute, jit_compile=True)
        g_compute = tf.function(g_compute, jit_compile=True)

    def nonfinite_flag(grads):
        ok = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
        bad = 1.0 - tf.cast(ok, tf.float32)
        ctx = tf.distribute.get_replica_context()
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, bad)

    def rid_now():
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.cast(rid, tf.int32)

    def d_replica(reals_local, labels, step):
        grads, stats = d_compute(reals_local, labels, step, rid_now())
        return grads, stats, nonfinite_flag(grads)

    def g_replica(labels, step):
        grads, stats = g_compute(labels, step, rid_now())
        return grads, stats, nonfinite_flag(grads)

    def apply(opt, grads, variables, bad, counter_index):
        bad_any = strategy.experimental_local_results(bad)[0] > 0
        nonfinite.assign_add(
            tf.one_hot(counter_index, 2, dtype=tf.int64) * tf.cast(bad_any, tf.int64)
        )

        def do_apply():
            strategy.extended.call_for_each_replica(opt.apply, args=(grads, variables))

        if mixed_precision:
            do_apply()  # the LossScaleOptimizer skips non-finite updates itself
        else:
            tf.cond(bad_any, lambda: None, do_apply)

    def reduce(stats):
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in stats.items()
        }

    @tf.function
    def step_fn(reals, labels, step):
        d_grads, d_stats, d_bad = strategy.run(d_replica, args=(reals, labels, step))
        d_vars = [D.trainable_variables[i] for i in grad_index["D"]]
        apply(D_opt, d_grads, d_vars, d_bad, 0)
        update_ema(G_ema, G, beta)
        g_grads, g_stats, g_bad = strategy.run(g_replica, args=(labels, step))
        g_vars = [G.trainable_variables[i] for i in grad_index["G"]]
        apply(G_opt, g_grads, g_vars, g_bad, 1)
        out = reduce({**d_stats, **g_stats})
        out["Loss/nonfinite_D"] = tf.cast(
            strategy.experimental_local_results(d_bad)[0] > 0, tf.float32
        )
        out["Loss/nonfinite_G"] = tf.cast(
            strategy.experimental_local_results(g_bad)[0] > 0, tf.float32
        )
        return out

    step_fn.stage = stage
    step_fn.batch = batch
    step_fn.ema_beta = beta
    return step_fn
