"""Load a trained generator from whatever a training run left behind.

``load_generator(path)`` accepts:

* a ``.keras`` snapshot (``network-snapshot-000120.000.keras``);
* a run directory: its latest ``.keras`` snapshot, else its latest checkpoint;
* a checkpoint prefix (``<run>/checkpoints/ckpt-120000``) or checkpoint directory
  (``<run>/checkpoints``): the generator is rebuilt from the run's ``training_options.json``
  (found next to the checkpoint directory, or given as ``options``) and its weights are read
  from the checkpoint (``G_ema`` by default, or ``G``).

Example:
    >>> from stylegan_tf.loading import load_generator
    >>> G = load_generator("runs/demo")
    >>> images = G(z, noise_mode="const")   # [N, 32, 32, 1] in about [-1, 1]
"""

from __future__ import annotations

import json
import os

from stylegan_tf.rundir import OPTIONS_FILE, find_checkpoints, list_snapshots

__all__ = [
    "load_generator",
    "find_checkpoint",
    "read_training_options",
    "checkpointable",
    "import_stage",
    "resolve_stage",
    "StagedGenerator",
]

IMPORT_INFO = "import_info.json"  # written by stylegan_tf.import_official


def checkpointable(model):
    """A ``tf.train.Checkpoint`` holding every variable of ``model`` under a stable key.

    Keras 3 layers kept in Python lists (the synthesis and discriminator blocks) are not part
    of TensorFlow's checkpoint object graph, so the training checkpoints store each network as
    a flat ``{key: variable}`` node instead. The key is the variable path without the model's
    own name (``synthesis/b8_conv1/conv/kernel`` -> ``synthesis.b8_conv1.conv.kernel``), so G,
    G_ema and a freshly built generator share keys. Seed-generator states (unused by training,
    and named by a process-wide counter) are left out.
    """
    import tensorflow as tf

    variables = {}
    for v in model.variables:
        if "seed_generator" in v.path:
            continue
        key = v.path.split("/", 1)[-1].replace("/", ".")
        if key in variables:
            raise ValueError(f"two variables of {model.name} map to the checkpoint key {key!r}")
        variables[key] = v
    return tf.train.Checkpoint(**variables)


def find_checkpoint(path: str) -> str | None:
    """The newest checkpoint prefix that ``path`` names (prefix, checkpoint dir or run dir; the
    order of :func:`stylegan_tf.rundir.find_checkpoints`), or None."""
    found = find_checkpoints(path)
    return found[0] if found else None


def read_training_options(checkpoint_prefix: str, options: str | None = None) -> dict:
    """The ``training_options.json`` of the run that wrote ``checkpoint_prefix``."""
    if options is None:
        ckpt_dir = os.path.dirname(os.path.abspath(checkpoint_prefix))
        candidates = [
            os.path.join(os.path.dirname(ckpt_dir), OPTIONS_FILE),  # <run>/checkpoints/ckpt-N
            os.path.join(ckpt_dir, OPTIONS_FILE),
        ]
        options = next((c for c in candidates if os.path.isfile(c)), None)
        if options is None:
            raise FileNotFoundError(
                f"no {OPTIONS_FILE} found for checkpoint {checkpoint_prefix!r} "
                f"(looked in {candidates}); pass options=<path>"
            )
    with open(options) as f:
        return json.load(f)


def _load_keras(path: str):
    import zipfile

    import keras

    import networks  # noqa: F401  (registers the custom Keras objects)
    from networks import Generator

    # Keras reports any unreadable archive as "File not found"; say what is wrong instead.
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is empty, not a .keras snapshot")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras snapshot (not a zip archive; truncated?)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable .keras snapshot ({e})") from None
    missing = {"config.json"} - names
    if missing:
        raise ValueError(f"{path} is not a .keras snapshot (no {', '.join(sorted(missing))})")
    try:
        model = keras.saving.load_model(path, compile=False)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as e:
        reason = " ".join(str(e).split())[:300]
        raise ValueError(f"{path}: cannot load the .keras snapshot ({reason})") from None
    if not isinstance(model, Generator):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a Generator")
    return model


def _load_checkpoint(prefix: str, which: str, options: str | None):
    import tensorflow as tf

    from networks import Generator
    from stylegan_tf.config import Config

    data = read_training_options(prefix, options)
    cfg = Config.from_dict(data["config"] if "config" in data else data)
    G = Generator.from_gconfig(cfg.G)
    status = tf.train.Checkpoint(**{which: checkpointable(G)}).read(prefix)
    status.expect_partial()
    status.assert_existing_objects_matched()
    return G


def load_generator(path, *, which: str = "G_ema", options: str | None = None):
    """Load a :class:`networks.Generator` from a snapshot, run directory or checkpoint.

    Args:
        path: ``.keras`` file, run directory, checkpoint directory or checkpoint prefix.
        which: network to read from a checkpoint: ``"G_ema"`` (default) or ``"G"``.
        options: ``training_options.json`` to rebuild from (default: the run's own).

    Raises:
        FileNotFoundError: nothing loadable at ``path``.
        ValueError: ``which`` is invalid or the file holds something else.
    """
    if which not in ("G_ema", "G"):
        raise ValueError(f"which must be 'G_ema' or 'G', got {which!r}")
    path = os.fspath(path)
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such snapshot: {path!r}")
        return _load_keras(path)
    if os.path.isfile(os.path.join(path, IMPORT_INFO)):  # an import_official output directory
        return _load_keras(os.path.join(path, f"{which}.keras"))
    if os.path.isdir(path) and which == "G_ema":
        snapshots = list_snapshots(path)
        if snapshots:
            return _load_keras(snapshots[-1])
    prefix = find_checkpoint(path)
    if prefix is None:
        raise FileNotFoundError(
            f"nothing to load at {path!r}: expected a .keras snapshot, a run directory with "
            "snapshots or checkpoints, or a checkpoint"
        )
    return _load_checkpoint(prefix, which, options)


# ---------------------------------------------------------------------------------------------
# Progressive-growing stage of imported official snapshots.


def import_stage(path, which: str = "G_ema"):
    """``(stage, alpha)`` recorded by ``stylegan_tf.import_official`` for the network at ``path``
    (an import output directory, or its ``G_ema.keras`` / ``G.keras``), or None.

    An official pickle saved during progressive growing has ``lod > 0``; the importer writes the
    whole network to the ``.keras`` files and the stage / fade-in that the official networks run
    at that lod to ``import_info.json`` (``{"stage": {"G_ema": {"stage": 512, "alpha": 0.5}}}``).
    """
    path = os.fspath(path)
    if path.endswith(".keras"):
        which = os.path.basename(path)[: -len(".keras")]
        directory = os.path.dirname(os.path.abspath(path))
    else:
        directory = path
    info_path = os.path.join(directory, IMPORT_INFO)
    if not os.path.isfile(info_path):
        return None
    with open(info_path) as f:
        entry = json.load(f).get("stage", {}).get(which)
    if not entry:
        return None
    return int(entry["stage"]), float(entry["alpha"])


def resolve_stage(path, G, stage=None):
    """``(stage, alpha)`` to run ``G`` (loaded from ``path``) at: ``stage`` as given by the user
    (alpha 1), else the imported snapshot's stage, else the full resolution (alpha 1).

    Raises ``ValueError`` naming the valid stages for a ``stage`` that is not one of them.
    """
    if stage is not None:
        if stage not in G.synthesis.resolutions:
            raise ValueError(f"--stage must be one of {G.synthesis.resolutions}, got {stage}")
        return int(stage), 1.0
    found = import_stage(path)
    return found if found is not None else (int(G.img_resolution), 1.0)


class StagedGenerator:
    """A generator run at a fixed progressive-growing stage, with full-resolution output.

    Our networks output a stage's image at the stage's resolution; the official ones upsample
    it (nearest) to the full resolution. Metrics compare against full-resolution reals, so this
    wrapper adds ``stage`` / ``alpha`` to every call of ``G`` and ``G.synthesis`` and upsamples
    the result, which is then exactly the official image. Everything else is ``G``'s.
    """

    def __init__(self, G, stage, alpha=1.0):
        self._G = G
        self.stage = int(stage)
        self.alpha = float(alpha)
        self.synthesis = _StagedSynthesis(G.synthesis, self.stage, self.alpha)

    def __getattr__(self, name):
        return getattr(self._G, name)

    def __call__(self, *args, **kwargs):
        kwargs.setdefault("stage", self.stage)
        kwargs.setdefault("alpha", self.alpha)
        return _upscale_to(self._G(*args, **kwargs), self._G.img_resolution)


class _StagedSynthesis:
    def __init__(self, synthesis, stage, alpha):
        self._s, self.stage, self.alpha = synthesis, stage, alpha

    def __getattr__(self, name):
        return getattr(self._s, name)

    def __call__(self, ws, **kwargs):
        kwargs.setdefault("stage", self.stage)
        kwargs.setdefault("alpha", self.alpha)
        return _upscale_to(self._s(ws, **kwargs), self._s.img_resolution)


def _upscale_to(images, resolution):
    from networks.layers import upscale2d

    factor = int(resolution) // int(images.shape[1])
    return upscale2d(images, factor) if factor > 1 else images
