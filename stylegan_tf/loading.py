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

__all__ = ["load_generator", "find_checkpoint", "read_training_options", "checkpointable"]


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
