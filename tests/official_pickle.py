"""Official-format StyleGAN pickles for tests: the ``(G, D, Gs)`` tuple of
``dnnlib.tflib.network.Network`` objects that NVIDIA's ``training/misc.py save_pkl`` writes, each
pickled as its ``__getstate__`` dict (version 3, with ``build_module_src``)."""

import math
import pickle
import sys
import types

import numpy as np

RES = 16
LATENT = 16
FMAP_BASE, FMAP_MAX = 64, 16  # official nf(stage) = min(64 / 2**stage, 16): 16, 16, 8 at 4, 8, 16
MAP_LAYERS = 2
LRMUL = 0.01
SQRT2 = math.sqrt(2.0)


def nf(stage):
    return min(int(FMAP_BASE / 2.0**stage), FMAP_MAX)


# ---------------------------------------------------------------------------------------------
# Official-structure pickles, written with a stand-in ``dnnlib.tflib.network.Network`` class.


class _FakeNetwork:
    """Pickles exactly like the official Network: global ``dnnlib.tflib.network.Network`` with
    the ``__getstate__`` dict."""

    def __init__(self, state):
        self._state = state

    def __getstate__(self):
        return self._state

    def __setstate__(self, state):  # pragma: no cover - never unpickled with this class
        self._state = state


_FakeNetwork.__module__ = "dnnlib.tflib.network"
_FakeNetwork.__qualname__ = "Network"
_FakeNetwork.__name__ = "Network"


def dump_official(obj, path, protocol=4):
    """Pickle with the fake ``dnnlib`` modules present, and remove them again afterwards."""
    names = ["dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"]
    saved = {n: sys.modules.get(n) for n in names}
    mod = types.ModuleType("dnnlib.tflib.network")
    mod.Network = _FakeNetwork
    sys.modules.update(
        {
            "dnnlib": types.ModuleType("dnnlib"),
            "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
            "dnnlib.tflib.network": mod,
        }
    )
    try:
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def network(name, variables, components=None, static_kwargs=None, src="", func=""):
    return _FakeNetwork(
        {
            "version": 3,
            "name": name,
            "static_kwargs": dict(static_kwargs or {}),
            "components": dict(components or {}),
            "build_module_src": src,
            "build_func_name": func,
            "variables": list(variables.items()),
        }
    )


def official_generator_vars(rng, label_size=0):
    """``{mapping: {...}, synthesis: {...}, own: {...}}`` with official local names and shapes."""
    f32 = np.float32
    mapping = {}
    if label_size:
        mapping["LabelConcat/weight"] = rng.randn(label_size, LATENT).astype(f32)
    fan_in = LATENT * (2 if label_size else 1)
    for i in range(MAP_LAYERS):
        mapping[f"Dense{i}/weight"] = (rng.randn(fan_in, LATENT) / LRMUL).astype(f32)
        mapping[f"Dense{i}/bias"] = (rng.randn(LATENT) / LRMUL * 0.1).astype(f32)
        fan_in = LATENT
    mapping["lod"] = np.float32(0)  # harmless extra scalar
    synth = {"lod": np.float32(0)}
    num_layers = 2 * int(math.log2(RES)) - 2
    for i in range(num_layers):
        r = 2 ** (i // 2 + 2)
        synth[f"noise{i}"] = rng.randn(1, 1, r, r).astype(f32)

    def epilogue(scope, c):
        synth[f"{scope}/Noise/weight"] = (rng.randn(c) * 0.3).astype(f32)
        synth[f"{scope}/bias"] = (rng.randn(c) * 0.2).astype(f32)
        synth[f"{scope}/StyleMod/weight"] = rng.randn(LATENT, 2 * c).astype(f32)
        synth[f"{scope}/StyleMod/bias"] = (rng.randn(2 * c) * 0.2).astype(f32)

    synth["4x4/Const/const"] = (1.0 + 0.3 * rng.randn(1, nf(1), 4, 4)).astype(f32)
    epilogue("4x4/Const", nf(1))
    synth["4x4/Conv/weight"] = rng.randn(3, 3, nf(1), nf(1)).astype(f32)
    epilogue("4x4/Conv", nf(1))
    for stage in range(3, int(math.log2(RES)) + 1):
        R = 2**stage
        synth[f"{R}x{R}/Conv0_up/weight"] = rng.randn(3, 3, nf(stage - 2), nf(stage - 1)).astype(
            f32
        )
        epilogue(f"{R}x{R}/Conv0_up", nf(stage - 1))
        synth[f"{R}x{R}/Conv1/weight"] = rng.randn(3, 3, nf(stage - 1), nf(stage - 1)).astype(f32)
        epilogue(f"{R}x{R}/Conv1", nf(stage - 1))
    for stage in range(2, int(math.log2(RES)) + 1):
        lod = int(math.log2(RES)) - stage
        synth[f"ToRGB_lod{lod}/weight"] = rng.randn(1, 1, nf(stage - 1), 3).astype(f32)
        synth[f"ToRGB_lod{lod}/bias"] = (rng.randn(3) * 0.1).astype(f32)
    own = {"lod": np.float32(0), "dlatent_avg": (rng.randn(LATENT) * 0.5).astype(f32)}
    return {"mapping": mapping, "synthesis": synth, "own": own}


def official_discriminator_vars(rng):
    f32 = np.float32
    d = {"lod": np.float32(0)}
    for stage in range(int(math.log2(RES)), 2, -1):
        R = 2**stage
        d[f"{R}x{R}/Conv0/weight"] = rng.randn(3, 3, nf(stage - 1), nf(stage - 1)).astype(f32)
        d[f"{R}x{R}/Conv0/bias"] = rng.randn(nf(stage - 1)).astype(f32)
        d[f"{R}x{R}/Conv1_down/weight"] = rng.randn(3, 3, nf(stage - 1), nf(stage - 2)).astype(f32)
        d[f"{R}x{R}/Conv1_down/bias"] = rng.randn(nf(stage - 2)).astype(f32)
    for stage in range(2, int(math.log2(RES)) + 1):
        lod = int(math.log2(RES)) - stage
        d[f"FromRGB_lod{lod}/weight"] = rng.randn(1, 1, 3, nf(stage - 1)).astype(f32)
        d[f"FromRGB_lod{lod}/bias"] = rng.randn(nf(stage - 1)).astype(f32)
    d["4x4/Conv/weight"] = rng.randn(3, 3, nf(1) + 1, nf(1)).astype(f32)
    d["4x4/Conv/bias"] = rng.randn(nf(1)).astype(f32)
    d["4x4/Dense0/weight"] = rng.randn(nf(1) * 16, nf(0)).astype(f32)
    d["4x4/Dense0/bias"] = rng.randn(nf(0)).astype(f32)
    d["4x4/Dense1/weight"] = rng.randn(nf(0), 1).astype(f32)
    d["4x4/Dense1/bias"] = rng.randn(1).astype(f32)
    return d


def generator_network(name, gv, src=""):
    kw = dict(num_channels=3, resolution=RES, fmap_base=FMAP_BASE, fmap_max=FMAP_MAX)
    mapping = network(
        "G_mapping",
        gv["mapping"],
        static_kwargs=dict(latent_size=LATENT, dlatent_size=LATENT, mapping_layers=MAP_LAYERS),
        src=src,
        func="G_mapping",
    )
    synthesis = network("G_synthesis", gv["synthesis"], static_kwargs=kw, src=src)
    return network(
        name,
        gv["own"],
        components={"mapping": mapping, "synthesis": synthesis},
        static_kwargs=kw,
        src=src,
        func="training.networks_stylegan.G_style",
    )


def official_pickle(path, rng, src="", drop=None, protocol=4):
    gv = official_generator_vars(rng)
    if drop:
        comp, name = drop
        del gv[comp][name]
    G = generator_network("G", official_generator_vars(rng), src)
    Gs = generator_network("Gs", gv, src)
    D = network(
        "D",
        official_discriminator_vars(rng),
        static_kwargs=dict(num_channels=3, resolution=RES, fmap_base=FMAP_BASE, fmap_max=FMAP_MAX),
        src=src,
        func="training.networks_stylegan.D_basic",
    )
    dump_official((G, D, Gs), path, protocol)
    return gv
