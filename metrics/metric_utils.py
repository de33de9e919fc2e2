"""What every metric shares: options, datasets of reals, fake sampling, cached real features.

The generator is duck-typed: any object with `z_dim`, `c_dim`, `img_resolution`,
`img_channels`, `num_ws`, `mapping(z, c)`, `synthesis(ws, noise_mode=... | noise=[...])`,
`synthesis.noise_shapes(batch)` and `__call__(z, c, truncation_psi=..., noise_mode=...)`
(see `networks.Generator`). Keras generators are called inside `tf.function` with fixed batch
shapes; other objects (e.g. numpy test doubles) are called eagerly.

A dataset is anything with `resolution`, `channels`, `num_images`, `label_dim` and
`iterate_reals(resolution, num, batch_size, mirror=False)` yielding uint8 NHWC batches of the
first `num` images in file order (`datasets.open_dataset(path)`), or an `ArrayDataset`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

import datasets
from metrics import cache
from metrics.inception import InceptionFeatures
from metrics.progress import Progress
from stylegan_tf.images import to_uint8_tf
from stylegan_tf.util import compile_for

__all__ = [
    "ArrayDataset",
    "MetricOptions",
    "box_downsample",
    "compile_for",
    "fake_features",
    "get_inception",
    "iterate_fakes",
    "open_dataset",
    "real_features",
    "sample_labels",
]


# -------------------------------------------------------------------------------------------------
# Datasets


class ArrayDataset:
    """An in-memory dataset of uint8 NHWC images with the reader's `iterate_reals` interface.

    Args:
      images: uint8 [N, H, W, C] (H == W), or float in [0, 1] which is rounded to uint8.
      name: label for cache file names.
      labels: optional [N, label_dim] array.
      mirror_seed: seed of the random x-flips when `mirror=True`.
    """

    def __init__(self, images, name: str = "arrays", labels=None, mirror_seed: int = 0):
        images = np.asarray(images)
        if images.dtype != np.uint8:
            if images.min() < 0 or images.max() > 1:
                raise ValueError("float images must lie in [0, 1] (or pass uint8)")
            images = np.clip(np.rint(images * 255), 0, 255).astype(np.uint8)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[1] != images.shape[2]:
            raise ValueError(f"need square NHWC images, got shape {images.shape}")
        self.images = images
        self.name = name
        self.labels = None if labels is None else np.asarray(labels, np.float32)
        self.mirror_seed = mirror_seed
        self.resolution = images.shape[1]
        self.channels = images.shape[3]
        self.num_images = images.shape[0]
        self.label_dim = 0 if labels is None else self.labels.shape[1]

    @functools.cached_property
    def fingerprint(self) -> str:
        """md5 of the pixel data (the cache key of an in-memory dataset)."""
        return hashlib.md5(np.ascontiguousarray(self.images).tobytes()).hexdigest()

    def iterate_reals(self, resolution=None, num=None, batch_size=32, mirror=False):
        """Yields uint8 batches of the first `num` images in order, x-flipped at random if
        `mirror` (each image with probability 1/2, as the official `apply_mirror_augment`)."""
        if resolution not in (None, self.resolution):
            raise ValueError(f"ArrayDataset has resolution {self.resolution}, not {resolution}")
        num = self.num_images if num is None else min(int(num), self.num_images)
        rng = np.random.default_rng(self.mirror_seed)
        for begin in range(0, num, batch_size):
            batch = self.images[begin : min(begin + batch_size, num)]
            if mirror:
                flip = rng.random(len(batch)) < 0.5
                batch = np.where(flip[:, None, None, None], batch[:, :, ::-1], batch)
            yield batch


def open_dataset(dataset):
    """A dataset object from a path (through `datasets.open_dataset`), an array or a dataset."""
    if dataset is None:
        raise ValueError("this metric needs a dataset of real images")
    if isinstance(dataset, np.ndarray):
        return ArrayDataset(dataset)
    if isinstance(dataset, str | os.PathLike):
        return datasets.open_dataset(os.fspath(dataset))
    if not hasattr(dataset, "iterate_reals"):
        raise TypeError(f"not a dataset (no iterate_reals): {type(dataset).__name__}")
    return dataset


def _dataset_identity(ds, key: str | None) -> dict | None:
    if key:
        return {"dataset_key": key}
    if isinstance(ds, ArrayDataset):
        return {"arrays_md5": ds.fingerprint, "shape": list(ds.images.shape)}
    path = getattr(ds, "path", None)
    if path is None:
        return None
    return {
        "path": os.path.abspath(os.fspath(path)),
        "num_images": int(ds.num_images),
        "resolution": int(ds.resolution),
    }


# -------------------------------------------------------------------------------------------------
# Options


@dataclasses.dataclass
class MetricOptions:
    """Everything a metric needs besides its own parameters.

    Args:
      G: the generator (see module docstring); None for metrics of reals only.
      dataset: dataset object, path or uint8 array of reals (FID/KID only).
      mirror: x-flip reals at random, as when the run used mirror augmentation.
      cache_dir: where real-image statistics are cached; None = `cache.default_cache_dir()`,
        False = no cache.
      batch_size: images per compiled call, per GPU.
      num_gpus: multiplies the batch size (as the official minibatch_per_gpu); all work runs
        on TensorFlow's default device.
      seed: seed of the latents, labels, noise and interpolation points.
      verbose: progress bars on stderr.
      classifiers: attribute classifiers for `ls` (Keras models or callables: float images in
        [-1, 1] NHWC -> one logit per image).
      inception_weights / lpips_weights: weight files (default: found automatically).
      dataset_key: identity of the dataset in cache keys when it has no `path`.
      fid_method: "sqrtm" (official) or "eigh" (faster) for the Fréchet distance.
      detector: feature extractor for FID/KID, `detector(uint8 NHWC) -> [N, D]`; default the
        FID Inception. Real statistics are cached only for detectors with a `cache_id`.
    """

    G: Any = None
    dataset: Any = None
    mirror: bool = False
    cache_dir: str | bool | None = None
    batch_size: int = 16
    num_gpus: int = 1
    seed: int = 0
    verbose: bool = True
    classifiers: Sequence[Callable] = ()
    inception_weights: str | None = None
    lpips_weights: str | None = None
    dataset_key: str | None = None
    fid_method: str = "sqrtm"
    detector: Callable | None = None

    def __post_init__(self):
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        if int(self.num_gpus) < 1:
            raise ValueError(f"num_gpus must be >= 1, got {self.num_gpus!r}")
        if self.fid_method not in ("sqrtm", "eigh"):
            raise ValueError(f"fid_method must be 'sqrtm' or 'eigh', got {self.fid_method!r}")

    @property
    def minibatch(self) -> int:
        return int(self.batch_size) * int(self.num_gpus)

    def progress(self, total, desc) -> Progress:
        return Progress(total, desc, enabled=self.verbose)

    def get_detector(self) -> Callable:
        """`detector`, or the shared FID Inception for `inception_weights`."""
        if self.detector is not None:
            return self.detector
        return get_inception(self.inception_weights, self.minibatch)

    def require_G(self, metric: str):
        if self.G is None:
            raise ValueError(f"metric '{metric}' needs a generator")
        return self.G


@functools.lru_cache(maxsize=2)
def get_inception(weights: str | None = None, batch_size: int = 16) -> InceptionFeatures:
    """A shared `InceptionFeatures` per (weights, batch size): loading it takes seconds."""
    return InceptionFeatures(weights, batch_size=batch_size)


# -------------------------------------------------------------------------------------------------
# Images


def box_downsample(images, factor: int):
    """Averages non-overlapping `factor` x `factor` boxes of NHWC images (official reshape+mean)."""
    if factor == 1:
        return images
    x = tf.convert_to_tensor(images)
    n, h, w, c = x.shape
    x = tf.reshape(x, [-1, h // factor, factor, w // factor, factor, c])
    return tf.reduce_mean(x, axis=[2, 4])  # [N, H/f, W/f, C]


def sample_labels(rng: np.random.Generator, n: int, c_dim: int):
    """Uniform random one-hot labels [n, c_dim] (float32), or None when c_dim == 0."""
    if not c_dim:
        return None
    return np.eye(c_dim, dtype=np.float32)[rng.integers(0, c_dim, size=n)]


def iterate_fakes(opts: MetricOptions, num: int, desc: str = "fakes") -> Iterator[np.ndarray]:
    """Yields uint8 NHWC fakes `G(z, c, truncation_psi=1, noise_mode='random')`, `num` in all.

    As the official FID: no truncation, random noise, z ~ N(0, I) from `opts.seed`. A
    conditional G gets labels drawn from the dataset's `labels` when it has them (as
    stylegan2-ada), else uniform one-hot labels.
    """
    G = opts.require_G(desc)
    rng = np.random.default_rng(opts.seed)
    b = opts.minibatch
    pool = None
    if G.c_dim and opts.dataset is not None:
        pool = getattr(open_dataset(opts.dataset), "labels", None)
        if pool is not None and (np.ndim(pool) != 2 or np.shape(pool)[1] != G.c_dim):
            pool = None

    def generate(z, c):
        return to_uint8_tf(G(z, c, truncation_psi=1.0, noise_mode="random"))

    generate = compile_for(G, generate)
    with opts.progress(num, desc) as bar:
        for begin in range(0, num, b):
            z = rng.standard_normal([b, G.z_dim]).astype(np.float32)
            if pool is not None:
                c = np.asarray(pool, np.float32)[rng.integers(0, len(pool), size=b)]
            else:
                c = sample_labels(rng, b, G.c_dim)
            images = np.asarray(generate(z, c))[: min(b, num - begin)]
            bar.update(len(images))
            yield images


def real_features(opts: MetricOptions, num: int | None, kind: str = "stats") -> dict:
    """Detector statistics (`kind="stats"`: mu, sigma) or features (`kind="features"`) of the
    first `num` reals (all if None), cached under a hash of their options.

    Returns a dict with `mu`/`sigma` or `features`, and `num` (the count actually used).
    """
    from metrics.frechet import feature_stats

    if kind not in ("stats", "features"):
        raise ValueError(f"kind must be 'stats' or 'features', got {kind!r}")
    ds = open_dataset(opts.dataset)
    resolution = opts.G.img_resolution if opts.G is not None else ds.resolution
    num = ds.num_images if num is None else min(int(num), ds.num_images)
    identity = _dataset_identity(ds, opts.dataset_key)
    detector = opts.get_detector()
    detector_id = getattr(detector, "cache_id", None)
    path = None
    if opts.cache_dir is not False and identity is not None and detector_id is not None:
        options = dict(
            identity,
            num=num,
            resolution=int(resolution),
            mirror=bool(opts.mirror),
            detector=detector_id,
        )
        label = os.path.basename(str(identity.get("path", getattr(ds, "name", "data"))))
        path = cache.cache_file(opts.cache_dir or cache.default_cache_dir(), kind, options, label)
        cached = cache.load_npz(path)
        if cached is not None:
            return cached
    feats = []
    done = 0
    with opts.progress(num, "reals") as bar:
        for batch in ds.iterate_reals(resolution, num, opts.minibatch, mirror=opts.mirror):
            batch = np.asarray(batch)[: num - done]
            feats.append(np.asarray(detector(batch), np.float32))
            done += len(batch)
            bar.update(len(batch))
            if done >= num:
                break
    if done < num:
        raise ValueError(f"the dataset yielded {done} images, expected {num}")
    feats = np.concatenate(feats)
    if kind == "stats":
        mu, sigma = feature_stats(feats)
        result = {"mu": mu, "sigma": sigma, "num": np.int64(num)}
    else:
        result = {"features": feats, "num": np.int64(num)}
    if path is not None:
        cache.save_npz_atomic(path, **result)
    return result


def fake_features(opts: MetricOptions, num: int, desc: str = "fakes") -> np.ndarray:
    """Detector features [num, D] of `num` fakes from `iterate_fakes`."""
    detector = opts.get_detector()
    return np.concatenate(
        [np.asarray(detector(images), np.float32) for images in iterate_fakes(opts, num, desc)]
    )
