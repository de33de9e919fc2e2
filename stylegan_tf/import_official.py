"""Import an official StyleGAN (TF1) pickle without TF1 and without running its code.

The official ``.pkl`` holds ``(G, D, Gs)``, each a ``dnnlib.tflib.Network`` whose
``__getstate__`` is ``{version, name, static_kwargs, components, build_module_src,
build_func_name, variables=[(local_name, ndarray), ...]}``; G's components ``mapping`` and
``synthesis`` (named ``G_mapping`` / ``G_synthesis``) are Networks too (``docs/official-semantics.md#weight-names-and-pickles``).
The official loader ``exec``\\ s the embedded source on unpickling. Here an allow-list
unpickler maps ``Network`` to :class:`NetworkState` (which only stores the state dict), allows
the few numpy / stdlib globals needed to rebuild arrays, refuses every other global with
``pickle.UnpicklingError`` naming it, and never executes ``build_module_src``.

The variables are flattened to ``Gs.vars`` names (``G_mapping/...``, ``G_synthesis/...``,
``dlatent_avg``, ``lod``), the configuration (resolution, channels, label size, latent sizes,
mapping depth) is inferred from their shapes with ``static_kwargs`` as hints, and they are
loaded with :func:`networks.official.load_official_weights`, which checks every expected name
and shape.

Command line::

    python -m stylegan_tf.import_official karras2019stylegan-ffhq-1024x1024.pkl --out ffhq/

writes ``ffhq/G_ema.keras`` (from Gs), ``G.keras``, ``D.keras``, ``saved_model/`` (the
exporter's SavedModel of G_ema) and ``import_info.json`` (the inferred configurations, each
network's ``lod`` and the ``stage`` / ``alpha`` it gives; see :func:`lod_to_stage`).

A snapshot saved during progressive growing has ``lod > 0``: the official networks then run
only the blocks up to ``resolution / 2**floor(lod)`` with a fade. The ``.keras`` files hold the
whole network; ``stylegan_tf.loading.import_stage`` reads the stage back from
``import_info.json``, and ``generate``, ``export`` and ``metrics.run_metrics`` use it unless
``--stage`` is given. The SavedModel is exported at that stage.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import os
import pickle
import re
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from stylegan_tf.config import (  # noqa: E402
    DiscriminatorConfig,
    GeneratorConfig,
    channels,
    is_power_of_two,
)
from stylegan_tf.safe_pickle import (  # noqa: E402
    NUMPY_GLOBALS,
    AllowListUnpickler,
    BadFileError,
    load_pickle_file,
)


class NetworkState(dict):
    """Stand-in for ``dnnlib.tflib.network.Network``: the pickled state dict, nothing else."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"Network state must be a dict, got {type(state)}")
        self.clear()
        self.update(state)

    def __reduce__(self):  # pragma: no cover - we never write these
        raise TypeError("NetworkState is read-only")


class _EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a dict with attribute access in the original)."""

    def __setstate__(self, state):  # its pickled state is its items; nothing else is set
        if state:
            raise pickle.UnpicklingError("unexpected EasyDict state")


def _object_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` for protocol 0/1 pickles, for allow-listed classes only."""
    if cls not in (NetworkState, _EasyDict, collections.OrderedDict) or base is not object:
        raise pickle.UnpicklingError(f"cannot reconstruct {cls!r} from {base!r}")
    return cls.__new__(cls)


_ALLOWED = {
    **NUMPY_GLOBALS,
    ("dnnlib.tflib.network", "Network"): NetworkState,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("copy_reg", "_reconstructor"): _object_reconstructor,
    ("copyreg", "_reconstructor"): _object_reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
}


class OfficialUnpickler(AllowListUnpickler):
    """Unpickler that only resolves the allow-listed globals of an official StyleGAN pickle.

    Any other global (``os.system``, ``builtins.eval``, a custom class, ...) raises
    ``pickle.UnpicklingError`` naming ``module.name`` before anything can be called.
    """

    def __init__(self, file, **kwargs):
        super().__init__(
            file,
            _ALLOWED,
            "an official StyleGAN network pickle (only "
            "dnnlib.tflib.network.Network and numpy arrays are allowed)",
            **kwargs,
        )


def load_official_pickle(path):
    """Read an official pickle safely; returns its top-level object with every
    ``Network`` replaced by a :class:`NetworkState` dict. Nothing in it is executed.

    Raises:
        BadFileError: (a ``ValueError``) not a pickle, truncated, a refused global or array,
            too large for memory, ...; the message is one line naming ``path``.
        OSError: ``path`` cannot be opened.
    """
    return load_pickle_file(
        path, lambda f, size: OfficialUnpickler(f, encoding="latin1", max_bytes=size).load()
    )


# Official options read as numbers from ``static_kwargs`` (None: the official "off" value).
_NUMERIC_HINTS = {
    "fmap_base": False,
    "fmap_max": False,
    "mbstd_group_size": False,
    "label_size": False,
    "mapping_lrmul": True,
    "truncation_psi": True,
    "truncation_cutoff": True,
    "dlatent_avg_beta": True,
    "style_mixing_prob": True,
}
_PLAIN = (type(None), bool, int, float, str)


def _check_value(key, value, what):
    if key in _NUMERIC_HINTS:
        if value is None and _NUMERIC_HINTS[key]:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{what}: static_kwargs {key}={value!r:.60} is not a number")
    if not _plain(value):
        raise ValueError(f"{what}: static_kwargs {key!r:.60} has an unexpected value")


def _plain(value, depth=0) -> bool:
    """None, bool, number or text, or a short list / tuple / dict of them (2 levels at most)."""
    if isinstance(value, (*_PLAIN, np.number)):
        return True
    if depth >= 2 or not isinstance(value, (list, tuple, dict, np.ndarray)) or len(value) > 64:
        return False
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return all(isinstance(k, (str, int)) and _plain(v, depth + 1) for k, v in items)


def _check_state(state, what, depth=0):
    """The structure of a pickled Network state, before anything reads it: plain names, a list
    of ``(name, numeric array)`` variables, plain static_kwargs, components that are Networks
    (at most 3 levels deep, so a cyclic pickle cannot recurse forever)."""
    if not isinstance(state, NetworkState):
        raise ValueError(f"{what} is a {type(state).__name__}, not a dnnlib.tflib Network")
    version = state.get("version")
    if version not in (2, 3):
        raise ValueError(f"{what}: unsupported Network state version {version!r:.40} (expected 3)")
    for key in ("name", "variables"):
        if key not in state:
            raise ValueError(f"{what}: Network state has no {key!r}")
    if not isinstance(state["name"], str):
        raise ValueError(f"{what}: Network name is a {type(state['name']).__name__}")
    variables = state["variables"]
    if not isinstance(variables, (list, tuple)):
        raise ValueError(f"{what}: variables are a {type(variables).__name__}, not a list")
    for item in variables:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"{what}: a variable is not a (name, value) pair")
        value = item[1]
        if not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind not in "biuf":
            raise ValueError(f"{what}: variable {item[0]!r:.80} is not a numeric array")
    kwargs = state.get("static_kwargs") or {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"{what}: static_kwargs is not a dict of names")
    for key, value in kwargs.items():
        _check_value(key, value, what)
    comps = state.get("components") or {}
    if not isinstance(comps, dict) or not all(isinstance(k, str) for k in comps):
        raise ValueError(f"{what}: components is not a dict of names")
    if comps and depth >= 2:
        raise ValueError(f"{what}: components nested too deeply (a cycle?)")
    for key, comp in comps.items():
        _check_state(comp, f"{what} component {key!r:.40}", depth + 1)


def flatten_variables(state, what="network") -> dict:
    """``{name: ndarray}`` as ``Network.vars``: own variables by local name, then each
    component's variables prefixed with the component's name (``G_mapping/Dense0/weight``)."""
    _check_state(state, what)
    out = {}
    for name, value in state["variables"]:
        out[str(name)] = np.asarray(value)
    for key, comp in dict(state.get("components") or {}).items():
        _check_state(comp, f"{what} component {key!r}")
        for name, value in flatten_variables(comp, f"{what}/{key}").items():
            out[f"{comp['name']}/{name}"] = value
    return out


def static_kwargs(state) -> dict:
    """The Network's ``static_kwargs`` merged with those of its components (hints only)."""
    hints = {}
    for comp in dict(state.get("components") or {}).values():
        hints.update(static_kwargs(comp))
    hints.update(dict(state.get("static_kwargs") or {}))
    return hints


def network_lod(state) -> float:
    """The Network's own ``lod`` variable (0 when absent): the level of detail a snapshot taken
    during progressive growing was at. G_style assigns its own ``lod`` to the synthesis before
    running it, so for a generator this is the value that decides the output."""
    for name, value in state.get("variables") or ():
        if str(name) == "lod":
            return float(np.asarray(value, dtype=np.float64))
    return 0.0


def lod_to_stage(lod: float, img_resolution: int) -> tuple:
    """``(stage, alpha)`` of our networks that compute what the official ``recursive`` structure
    computes at ``lod`` (NVlabs/stylegan training/networks_stylegan.py L547-556, D L641-650).

    The official networks run the blocks up to resolution ``img_resolution / 2**floor(lod)`` and,
    for a fractional lod, ``lerp`` that block's RGB with the previous resolution's (upsampled) by
    ``lod - floor(lod)``; G then upsamples to full resolution (nearest), D downsamples its input.
    Ours is that stage with ``alpha = 1 - (lod - floor(lod))``, output at the stage's resolution.
    """
    max_lod = int(math.log2(img_resolution)) - 2
    if not math.isfinite(lod) or not 0.0 <= lod <= max_lod:
        raise ValueError(
            f"lod {lod!r} is outside 0..{max_lod} for a {img_resolution}x{img_resolution} network"
        )
    level = min(math.floor(lod), max_lod)
    frac = lod - level
    if frac == 0.0 or level == max_lod:
        return img_resolution >> level, 1.0
    return img_resolution >> level, 1.0 - frac


# Official options this port implements only at their default values.
_REQUIRED_DEFAULTS = {
    "fmap_decay": 1.0,
    "use_styles": True,
    "const_input_layer": True,
    "use_pixel_norm": False,
    "use_instance_norm": True,
    "nonlinearity": "lrelu",
    "mapping_nonlinearity": "lrelu",
    "use_wscale": True,
    "normalize_latents": True,
    "blur_filter": [1, 2, 1],
    "dtype": "float32",
}


def _check_supported(hints, what):
    for key, default in _REQUIRED_DEFAULTS.items():
        if key in hints:
            value = hints[key]
            value = list(value) if isinstance(value, (tuple, np.ndarray)) else value
            if value != default:
                raise ValueError(f"{what}: unsupported official option {key}={hints[key]!r}")


def _need(weights, name, what):
    if name not in weights:
        raise ValueError(f"{what}: missing official variable {name}")
    return weights[name]


def infer_channel_params(ch_by_res: dict, hint_base=None, hint_max=None) -> tuple:
    """``(channel_base, channel_max)`` reproducing ``{res: channels}`` with
    ``min(channel_base // res, channel_max)`` (official ``nf``: ``channel_base = 2*fmap_base``)."""

    def fits(base, cmax):
        return all(channels(r, base, cmax) == c for r, c in ch_by_res.items())

    if hint_base is not None and hint_max is not None and fits(int(hint_base), int(hint_max)):
        return int(hint_base), int(hint_max)
    cmax = max(ch_by_res.values())
    lo, hi = 1, math.inf
    for res, ch in ch_by_res.items():
        if ch < cmax:
            lo, hi = max(lo, ch * res), min(hi, (ch + 1) * res)
        else:
            lo = max(lo, ch * res)
    if lo >= hi or not fits(lo, cmax):
        raise ValueError(f"feature-map counts {ch_by_res} do not follow min(base // res, max)")
    return lo, cmax


def _max_resolution(names, pattern) -> int:
    found = [int(m.group(1)) for n in names if (m := re.match(pattern, n))]
    if not found:
        raise ValueError("no resolution blocks found in the variables")
    res = max(found)
    if not is_power_of_two(res) or res < 4:
        raise ValueError(f"inferred resolution {res} is not a power of two >= 4")
    return res


def infer_generator_config(weights: dict, hints: dict) -> GeneratorConfig:
    """A :class:`GeneratorConfig` matching the flattened official generator variables."""
    what = "generator"
    _check_supported(hints, what)
    res = _max_resolution(weights, r"G_synthesis/(\d+)x\1/")
    lod0 = _need(weights, "G_synthesis/ToRGB_lod0/weight", what)
    img_channels = int(lod0.shape[3])
    ch = {4: int(_need(weights, "G_synthesis/4x4/Conv/weight", what).shape[3])}
    for r in (2**i for i in range(3, int(math.log2(res)) + 1)):
        ch[r] = int(_need(weights, f"G_synthesis/{r}x{r}/Conv1/weight", what).shape[3])
    hint_base = 2 * hints["fmap_base"] if "fmap_base" in hints else None
    base, cmax = infer_channel_params(ch, hint_base, hints.get("fmap_max"))
    n_map = 0
    while f"G_mapping/Dense{n_map}/weight" in weights:
        n_map += 1
    if n_map == 0:
        raise ValueError(f"{what}: missing official variable G_mapping/Dense0/weight")
    dense0 = weights["G_mapping/Dense0/weight"]
    w_dim = int(weights[f"G_mapping/Dense{n_map - 1}/weight"].shape[1])
    if "G_mapping/LabelConcat/weight" in weights:
        c_dim, z_dim = (int(v) for v in weights["G_mapping/LabelConcat/weight"].shape)
    else:
        c_dim, z_dim = 0, int(dense0.shape[0])
    return GeneratorConfig(
        img_resolution=res,
        img_channels=img_channels,
        z_dim=z_dim,
        w_dim=w_dim,
        c_dim=c_dim,
        channel_base=base,
        channel_max=cmax,
        mapping_layers=n_map,
        mapping_fmaps=int(dense0.shape[1]) if n_map > 1 else w_dim,
        mapping_lr_multiplier=float(hints.get("mapping_lrmul", 0.01)),
        truncation_psi=float(hints.get("truncation_psi", 0.7) or 1.0),
        truncation_cutoff=int(hints.get("truncation_cutoff", 8) or 0),
        w_avg_beta=float(hints.get("dlatent_avg_beta", 0.995) or 1.0),
        style_mixing_prob=float(hints.get("style_mixing_prob", 0.9) or 0.0),
        fused_scale=hints.get("fused_scale", "auto"),
        use_noise="G_synthesis/noise0" in weights,
    )


def infer_discriminator_config(weights: dict, hints: dict) -> DiscriminatorConfig:
    """A :class:`DiscriminatorConfig` matching the official ``D_basic`` variables."""
    what = "discriminator"
    _check_supported(hints, what)
    res = _max_resolution(weights, r"(\d+)x\1/")
    img_channels = int(_need(weights, "FromRGB_lod0/weight", what).shape[2])
    ch = {}
    for r in (2**i for i in range(2, int(math.log2(res)) + 1)):
        lod = int(math.log2(res)) - int(math.log2(r))
        ch[r] = int(_need(weights, f"FromRGB_lod{lod}/weight", what).shape[3])
    ch[2] = int(_need(weights, "4x4/Dense0/weight", what).shape[1])
    hint_base = 2 * hints["fmap_base"] if "fmap_base" in hints else None
    base, cmax = infer_channel_params(ch, hint_base, hints.get("fmap_max"))
    extra = int(_need(weights, "4x4/Conv/weight", what).shape[2]) - ch[4]
    group = int(hints.get("mbstd_group_size", 4)) if extra > 0 else 0
    outputs = int(_need(weights, "4x4/Dense1/weight", what).shape[1])
    c_dim = outputs if outputs > 1 else int(hints.get("label_size", 0))
    return DiscriminatorConfig(
        img_resolution=res,
        img_channels=img_channels,
        c_dim=c_dim,
        channel_base=base,
        channel_max=cmax,
        mbstd_group_size=group,
        mbstd_num_features=max(extra, 1),
        fused_scale=hints.get("fused_scale", "auto"),
    )


def _is_generator(state) -> bool:
    comps = dict(state.get("components") or {})
    return "mapping" in comps and "synthesis" in comps


def split_networks(obj) -> dict:
    """``{"G": state, "D": state, "Gs": state}`` from the pickle's top-level object (the
    official ``(G, D, Gs)`` tuple; a lone generator Network is taken as Gs)."""
    if isinstance(obj, NetworkState):
        if not _is_generator(obj):
            raise ValueError("the pickle holds a single Network that is not a generator")
        return {"Gs": obj}
    if isinstance(obj, (tuple, list)) and len(obj) == 3:
        for i, s in enumerate(obj):
            _check_state(s, f"pickle item {i}")
        G, D, Gs = obj
        if not (_is_generator(G) and _is_generator(Gs)) or _is_generator(D):
            raise ValueError("expected the official (G, D, Gs) tuple")
        return {"G": G, "D": D, "Gs": Gs}
    raise ValueError(f"expected the official (G, D, Gs) tuple, got a {type(obj).__name__}")


def build_generator(state):
    """Keras :class:`networks.Generator` with the weights of an official generator state."""
    from networks import Generator
    from networks.official import load_official_weights

    weights = flatten_variables(state, state.get("name", "G"))
    cfg = infer_generator_config(weights, static_kwargs(state))
    G = Generator.from_gconfig(cfg, name=_keras_name(state.get("name"), "generator"))
    load_official_weights(G, weights)
    return G, cfg


def build_discriminator(state):
    """Keras :class:`networks.Discriminator` with the weights of an official ``D`` state."""
    from networks import Discriminator
    from networks.official import load_official_weights

    weights = flatten_variables(state, state.get("name", "D"))
    cfg = infer_discriminator_config(weights, static_kwargs(state))
    D = Discriminator.from_dconfig(cfg, name=_keras_name(state.get("name"), "discriminator"))
    load_official_weights(D, weights)
    return D, cfg


def _keras_name(name, default):
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(name or default))
    return name or default


def import_official(pkl_path, out_dir, *, overwrite=False, saved_model=True) -> dict:
    """Convert an official pickle into ``out_dir`` (written atomically); returns the paths.

    ``G_ema.keras`` comes from Gs; ``G.keras`` and ``D.keras`` are written when the pickle has
    them; ``saved_model/`` is the inference SavedModel of G_ema.
    """
    nets = split_networks(load_official_pickle(pkl_path))
    from stylegan_tf.util import import_tensorflow_quietly

    import_tensorflow_quietly()  # TensorFlow only after the pickle is read and checked
    from stylegan_tf.export import export_saved_model
    from stylegan_tf.files import atomic_directory

    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.lexists(out_dir) and not overwrite:
        if not os.path.isdir(out_dir) or os.listdir(out_dir):
            raise FileExistsError(f"{out_dir} exists and is not empty (pass --overwrite)")
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    # Build (and validate) every network before writing anything.
    G_ema, g_cfg = build_generator(nets["Gs"])
    models = {"G_ema": G_ema}
    info = {"source": os.path.abspath(pkl_path), "G": dataclasses.asdict(g_cfg)}
    if "G" in nets:
        models["G"], _ = build_generator(nets["G"])
    if "D" in nets:
        models["D"], d_cfg = build_discriminator(nets["D"])
        info["D"] = dataclasses.asdict(d_cfg)
    # Snapshots taken during progressive growing: each network's own lod -> stage and alpha.
    sources = {"G_ema": "Gs", "G": "G", "D": "D"}
    info["lod"] = {sources[key]: network_lod(nets[sources[key]]) for key in models}
    info["stage"] = {}
    for key, model in models.items():
        stage, alpha = lod_to_stage(info["lod"][sources[key]], model.img_resolution)
        info["stage"][key] = {"stage": stage, "alpha": alpha}
    g_stage = info["stage"]["G_ema"]
    with atomic_directory(out_dir, overwrite) as tmp:
        for key, model in models.items():
            model.save(os.path.join(tmp, f"{key}.keras"))
        if saved_model:
            export_saved_model(
                G_ema,
                os.path.join(tmp, "saved_model"),
                stage=g_stage["stage"],
                alpha=g_stage["alpha"],
            )
        with open(os.path.join(tmp, "import_info.json"), "w") as f:
            json.dump(info, f, indent=2, default=str)
    paths = {key: os.path.join(out_dir, f"{key}.keras") for key in models}
    if saved_model:
        paths["saved_model"] = os.path.join(out_dir, "saved_model")
    paths["info"] = os.path.join(out_dir, "import_info.json")
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stylegan_tf.import_official",
        description="Convert an official StyleGAN (TF1) pickle to .keras files and a SavedModel "
        "without TF1 and without executing code from the pickle.",
    )
    parser.add_argument("pkl", help="official network pickle, e.g. karras2019stylegan-ffhq.pkl")
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-saved-model", action="store_true", help="skip the SavedModel")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    args = parser.parse_args(argv)
    from stylegan_tf.files import DirLock, LockedError, os_error_message
    from stylegan_tf.util import quiet_tensorflow

    quiet_tensorflow(args.verbose)  # TensorFlow itself is imported after the pickle is read
    try:
        with DirLock(args.out, "import_official", inside=False):
            paths = import_official(
                args.pkl, args.out, overwrite=args.overwrite, saved_model=not args.no_saved_model
            )
    except (BadFileError, LockedError) as e:  # their messages name the path
        return _fail(e)
    except (pickle.UnpicklingError, ValueError, RecursionError) as e:  # about the pickle's content
        return _fail(f"{args.pkl}: {' '.join(str(e).split()) or type(e).__name__}")
    except MemoryError:
        return _fail(f"{args.pkl}: not enough memory to import it")
    except OSError as e:  # missing, unreadable or unwritable path; an existing --out
        return _fail(os_error_message(e))
    for key, path in paths.items():
        print(f"{key}: {path}")
    print(lod_summary(paths["info"]))
    return 0


def _fail(message) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def lod_summary(info_path) -> str:
    """One line: the pickle's lod per network and the stage / alpha it was imported at."""
    with open(info_path) as f:
        info = json.load(f)
    parts = []
    for key, source in (("G_ema", "Gs"), ("G", "G"), ("D", "D")):
        if key in info.get("stage", {}):
            st = info["stage"][key]
            parts.append(
                f"{source} {info['lod'][source]:g} (stage {st['stage']}, alpha {st['alpha']:g})"
            )
    return "lod: " + ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
