"""Official-format StyleGAN pickles for tests: the ``(G, D, Gs)`` tuple of
``dnnlib.tflib.network.Network`` objects that NVIDIA's ``training/misc.py save_pkl`` writes, each
pickled as its ``__getstate__`` dict (version 3, with ``build_module_src``).

The architecture is a :class:`Spec` (resolution, latent size, ``fmap_base`` / ``fmap_max``,
mapping depth, ``lod``); the default is the tiny 16² network, :data:`NARROW_1024` a 1024² one with
at most 32 feature maps (official ``fmap_base=2048, fmap_max=32``)."""

import contextlib
import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Spec:
    """Official ``G_style`` / ``D_basic`` hyper-parameters of a fixture pickle."""

    res: int = RES
    latent: int = LATENT
    fmap_base: int = FMAP_BASE
    fmap_max: int = FMAP_MAX
    map_layers: int = MAP_LAYERS
    lod: float = 0.0  # the ``lod`` variable of G, G_synthesis, Gs and D
    style_std: float = 1.0  # std of the raw StyleMod weights (the official init is N(0, 1))

    @property
    def log2(self):
        return int(math.log2(self.res))

    def nf(self, stage):
        """Official ``nf(stage) = min(fmap_base / 2**stage, fmap_max)``."""
        return min(int(self.fmap_base / 2.0**stage), self.fmap_max)


DEFAULT = Spec()
# 1024² with channels 32 (4²-128²), 16, 8, 4 (256²-1024²): cheap enough for a full-size test.
# Raw style weights N(0, 0.5²): with the N(0, 1) init the float32 rounding floor of this narrow,
# untrained network is itself ~1.1e-5 of max |output| (numpy float32 with exactly rounded
# reductions, 18 layers each adding ~3e-7), too close to a 2e-5 accuracy test; at 0.5 it is 4e-6.
NARROW_1024 = Spec(res=1024, latent=32, fmap_base=2048, fmap_max=32, style_std=0.5)


def nf(stage):
    return DEFAULT.nf(stage)


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


@contextlib.contextmanager
def fake_modules(modules: dict):
    """Put stand-in modules into ``sys.modules`` for the block (so that pickle can name their
    classes), then restore whatever was there before."""
    saved = {n: sys.modules.get(n) for n in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def dump_official(obj, path, protocol=4):
    """Pickle with the fake ``dnnlib`` modules present, and remove them again afterwards."""
    mod = types.ModuleType("dnnlib.tflib.network")
    mod.Network = _FakeNetwork
    dnnlib = {
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
        "dnnlib.tflib.network": mod,
    }
    with fake_modules(dnnlib), open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


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


def official_generator_vars(rng, label_size=0, spec=DEFAULT):
    """``{mapping: {...}, synthesis: {...}, own: {...}}`` with official local names and shapes;
    every value (biases, noise strengths, styles, const, stored noise) random and non-zero."""
    f32 = np.float32
    LATENT, MAP_LAYERS, RES, nf = spec.latent, spec.map_layers, spec.res, spec.nf
    mapping = {}
    if label_size:
        mapping["LabelConcat/weight"] = rng.randn(label_size, LATENT).astype(f32)
    fan_in = LATENT * (2 if label_size else 1)
    for i in range(MAP_LAYERS):
        mapping[f"Dense{i}/weight"] = (rng.randn(fan_in, LATENT) / LRMUL).astype(f32)
        mapping[f"Dense{i}/bias"] = (rng.randn(LATENT) / LRMUL * 0.1).astype(f32)
        fan_in = LATENT
    synth = {"lod": np.float32(spec.lod)}
    num_layers = 2 * int(math.log2(RES)) - 2
    for i in range(num_layers):
        r = 2 ** (i // 2 + 2)
        synth[f"noise{i}"] = rng.randn(1, 1, r, r).astype(f32)

    def epilogue(scope, c):
        synth[f"{scope}/Noise/weight"] = (rng.randn(c) * 0.3).astype(f32)
        synth[f"{scope}/bias"] = (rng.randn(c) * 0.2).astype(f32)
        synth[f"{scope}/StyleMod/weight"] = (rng.randn(LATENT, 2 * c) * spec.style_std).astype(f32)
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
    own = {"lod": np.float32(spec.lod), "dlatent_avg": (rng.randn(LATENT) * 0.5).astype(f32)}
    return {"mapping": mapping, "synthesis": synth, "own": own}


def official_discriminator_vars(rng, spec=DEFAULT):
    f32 = np.float32
    RES, nf = spec.res, spec.nf
    d = {"lod": np.float32(spec.lod)}
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


def generator_network(name, gv, src="", spec=DEFAULT):
    kw = dict(num_channels=3, resolution=spec.res, fmap_base=spec.fmap_base, fmap_max=spec.fmap_max)
    mapping = network(
        "G_mapping",
        gv["mapping"],
        static_kwargs=dict(
            latent_size=spec.latent, dlatent_size=spec.latent, mapping_layers=spec.map_layers
        ),
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


def official_pickle(path, rng, src="", drop=None, protocol=4, spec=DEFAULT):
    """Write ``(G, D, Gs)`` to ``path``; returns Gs's variables (official local names)."""
    gv = official_generator_vars(rng, spec=spec)
    if drop:
        comp, name = drop
        del gv[comp][name]
    G = generator_network("G", official_generator_vars(rng, spec=spec), src, spec)
    Gs = generator_network("Gs", gv, src, spec)
    D = network(
        "D",
        official_discriminator_vars(rng, spec),
        static_kwargs=dict(
            num_channels=3, resolution=spec.res, fmap_base=spec.fmap_base, fmap_max=spec.fmap_max
        ),
        src=src,
        func="training.networks_stylegan.D_basic",
    )
    dump_official((G, D, Gs), path, protocol)
    return gv
