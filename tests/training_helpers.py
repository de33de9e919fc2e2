"""Shared helpers of the training tests (no tests here): tiny configs and datasets, running a
Python snippet in a fresh process, reading checkpoints back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(
    res=8,
    channels=3,
    *,
    total_kimg=0.064,
    training_kimg=0.016,
    transition_kimg=0.032,
    batch=8,
    tick_kimg=0.032,
    mirror=True,
    seed=7,
    **training,
):
    """A few-thousand-parameter Config: 4^2 -> ``res``, 8-16 channels, 2 mapping layers."""
    from stylegan_tf.config import (
        Config,
        DiscriminatorConfig,
        GeneratorConfig,
        ScheduleConfig,
        TrainingConfig,
    )

    return Config(
        G=GeneratorConfig(
            img_resolution=res, img_channels=channels, z_dim=16, w_dim=16, channel_base=64,
            channel_max=16, mapping_layers=2, mapping_fmaps=16,
        ),
        D=DiscriminatorConfig(
            img_resolution=res, img_channels=channels, channel_base=64, channel_max=16
        ),
        schedule=ScheduleConfig(
            initial_resolution=4, total_kimg=total_kimg, lod_training_kimg=training_kimg,
            lod_transition_kimg=transition_kimg, minibatch_base=batch, minibatch_dict={},
            tick_kimg_base=tick_kimg, tick_kimg_dict={},
        ),
        training=TrainingConfig(mirror_augment=mirror, seed=seed, **training),
    )  # fmt: skip


def make_dataset(dest, res=8, channels=3, num=64, seed=0, labels=False):
    """A dataset made by the dataset tool from smooth random uint8 images; returns ``dest``."""
    from datasets import create_dataset

    rng = np.random.RandomState(seed)
    low = rng.randint(0, 256, (num, 4, 4, channels)).astype(np.float32)
    images = low.repeat(res // 4, 1).repeat(res // 4, 2)
    images = np.clip(images + rng.randint(-20, 21, images.shape), 0, 255).astype(np.uint8)
    src = str(dest) + "-src.npz"
    arrays = {"images": images if channels == 3 else images[..., 0]}
    if labels:
        arrays["labels"] = rng.randint(0, 3, num)
    np.savez(src, **arrays)
    create_dataset(src, str(dest), res, progress=False, workers=1)
    return str(dest)


def env_for_child(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["KERAS_BACKEND"] = "tensorflow"
    env.pop("TF_CONFIG", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_python(code, *, timeout=240, env=None, cwd=ROOT):
    """Run ``code`` in a fresh interpreter; return the CompletedProcess (raises on timeout)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env or env_for_child(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def checkpoint_arrays(prefix) -> dict:
    """``{variable key: ndarray}`` of a checkpoint (object-graph keys, bookkeeping excluded)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    names = sorted(reader.get_variable_to_shape_map())
    return {
        n: reader.get_tensor(n)
        for n in names
        if "OBJECT_GRAPH" not in n and not n.startswith("save_counter") and "train_time" not in n
    }


def assert_checkpoints_close(a: dict, b: dict, rtol=1e-4, atol=1e-5, skip=()):
    assert sorted(a) == sorted(b)
    bad = []
    for key in a:
        if any(s in key for s in skip):
            continue
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.dtype.kind in "fc":
            if not np.allclose(x, y, rtol=rtol, atol=atol):
                bad.append((key, float(np.max(np.abs(x - y)))))
        elif not np.array_equal(x, y):
            bad.append((key, "differs"))
    assert not bad, f"{len(bad)} of {len(a)} variables differ, e.g. {bad[:5]}"


def step_setup(cfg, mixed_precision=False):
    """``(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite)`` for ``make_train_step``:
    fresh networks of ``cfg``, built Adam optimizers at lr 0.001, alpha 1."""
    import tensorflow as tf

    from training.loop import _adam, build_networks

    strategy = tf.distribute.get_strategy()
    G, D, G_ema = build_networks(cfg, mixed_precision)
    G_opt, D_opt = _adam(cfg.training, mixed_precision), _adam(cfg.training, mixed_precision)
    G_opt.build(G.trainable_variables)
    D_opt.build(D.trainable_variables)
    G_opt.learning_rate.assign(0.001)
    D_opt.learning_rate.assign(0.001)
    alpha = tf.Variable(1.0, trainable=False)
    nonfinite = tf.Variable([0, 0], dtype=tf.int64, trainable=False)
    return strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite
