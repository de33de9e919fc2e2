"""Checked configuration: frozen dataclasses for G, D, the schedule and training, plus presets.

One configuration flows from the command line to the networks and is saved as JSON next to
each run. Every value is validated when the dataclass is created, so a bad value fails with a
``ValueError`` that names it, before any work starts.

Channel counts follow one function, :func:`channels`. ``channel_base`` is the stylegan2-ada
convention: the official StyleGAN ``nf(stage) = min(fmap_base / 2**stage, fmap_max)`` with
``fmap_base = 8192`` gives, for the layers at resolution ``res = 2**r``, ``nf(r - 1) =
16384 / res``; so ``channel_base = 16384`` here is exactly the official ``fmap_base = 8192``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

__all__ = [
    "GeneratorConfig",
    "DiscriminatorConfig",
    "ScheduleConfig",
    "TrainingConfig",
    "Config",
    "PRESETS",
    "get_preset",
    "auto_config",
    "auto_minibatch_table",
    "format_auto_table",
    "channels",
    "is_power_of_two",
]


def is_power_of_two(value) -> bool:
    """True for integers 1, 2, 4, 8, ..."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value > 0
        and (value & (value - 1)) == 0
    )


def channels(res: int, channel_base: int, channel_max: int) -> int:
    """Feature maps of the layers working at ``res x res``: ``min(channel_base // res, channel_max)``.

    ``res`` may be 2 for the discriminator's last dense layer (the official ``nf(0)``).
    """
    return max(1, min(int(channel_base // res), int(channel_max)))


def _check_resolution(name: str, value, minimum: int = 4) -> None:
    if not is_power_of_two(value) or value < minimum:
        raise ValueError(f"{name} must be a power of two >= {minimum}, got {value!r}")


def _check_positive_int(name: str, value, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value, lo=None, hi=None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{name} must be <= {hi}, got {value!r}")


def _check_fused(name: str, value) -> None:
    if value not in ("auto", True, False):
        raise ValueError(f"{name} must be 'auto', True or False, got {value!r}")


@dataclass(frozen=True)
class GeneratorConfig:
    """Style-based generator (official ``G_style`` + ``G_mapping`` + ``G_synthesis``).

    Args:
        img_resolution: output resolution, a power of two >= 4.
        img_channels: 1 (grayscale) or 3 (RGB).
        z_dim: latent size (official ``latent_size``).
        w_dim: intermediate latent size (official ``dlatent_size``).
        c_dim: label size, 0 for unconditional.
        channel_base, channel_max: ``channels(res) = min(channel_base // res, channel_max)``.
        mapping_layers, mapping_fmaps, mapping_lr_multiplier: the mapping MLP.
        truncation_psi, truncation_cutoff: inference-time truncation defaults.
        w_avg_beta: decay of the running average of w (official ``dlatent_avg_beta``).
        style_mixing_prob: probability of mixing regularisation during training.
        fused_scale: 'auto' uses the fused (transposed) up-conv for outputs >= 128 like the
            official code; True/False force it on/off at every resolution.
        use_noise: per-layer noise inputs.
    """

    img_resolution: int = 1024
    img_channels: int = 3
    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    channel_base: int = 16384
    channel_max: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lr_multiplier: float = 0.01
    truncation_psi: float = 0.7
    truncation_cutoff: int = 8
    w_avg_beta: float = 0.995
    style_mixing_prob: float = 0.9
    fused_scale: object = "auto"
    use_noise: bool = True

    def __post_init__(self):
        _check_resolution("img_resolution", self.img_resolution)
        if self.img_channels not in (1, 3):
            raise ValueError(f"img_channels must be 1 or 3, got {self.img_channels!r}")
        _check_positive_int("z_dim", self.z_dim)
        _check_positive_int("w_dim", self.w_dim)
        _check_positive_int("c_dim", self.c_dim, minimum=0)
        _check_positive_int("channel_base", self.channel_base)
        _check_positive_int("channel_max", self.channel_max)
        _check_positive_int("mapping_layers", self.mapping_layers)
        _check_positive_int("mapping_fmaps", self.mapping_fmaps)
        _check_number("mapping_lr_multiplier", self.mapping_lr_multiplier, lo=1e-12)
        _check_number("truncation_psi", self.truncation_psi)
        _check_positive_int("truncation_cutoff", self.truncation_cutoff, minimum=0)
        _check_number("w_avg_beta", self.w_avg_beta, lo=0.0, hi=1.0)
        _check_number("style_mixing_prob", self.style_mixing_prob, lo=0.0, hi=1.0)
        _check_fused("fused_scale", self.fused_scale)

    @property
    def num_ws(self) -> int:
        """Number of per-layer w vectors: two per resolution, ``2 * log2(res) - 2``."""
        return 2 * int(math.log2(self.img_resolution)) - 2


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Progressive discriminator (official ``D_basic``)."""

    img_resolution: int = 1024
    img_channels: int = 3
    c_dim: int = 0
    channel_base: int = 16384
    channel_max: int = 512
    mbstd_group_size: int = 4
    mbstd_num_features: int = 1
    fused_scale: object = "auto"

    def __post_init__(self):
        _check_resolution("img_resolution", self.img_resolution)
        if self.img_channels not in (1, 3):
            raise ValueError(f"img_channels must be 1 or 3, got {self.img_channels!r}")
        _check_positive_int("c_dim", self.c_dim, minimum=0)
        _check_positive_int("channel_base", self.channel_base)
        _check_positive_int("channel_max", self.channel_max)
        _check_positive_int("mbstd_group_size", self.mbstd_group_size, minimum=0)
        _check_positive_int("mbstd_num_features", self.mbstd_num_features)
        _check_fused("fused_scale", self.fused_scale)


def _int_keys(table) -> dict:
    return {int(k): v for k, v in dict(table).items()}


@dataclass(frozen=True)
class ScheduleConfig:
    """Progressive-growing schedule (official ``training_loop`` arguments).

    Per-resolution tables map a resolution to a value; a resolution missing from a table uses
    the base value (``minibatch_base``, ``lr_base``).
    """

    initial_resolution: int = 8
    total_kimg: float = 25000.0
    lod_training_kimg: float = 600.0
    lod_transition_kimg: float = 600.0
    minibatch_base: int = 32
    minibatch_dict: dict = field(default_factory=lambda: {4: 512, 8: 256, 16: 128, 32: 64, 64: 32})
    lr_base: float = 0.001
    lr_dict: dict = field(
        default_factory=lambda: {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
    )
    tick_kimg_base: float = 160.0
    tick_kimg_dict: dict = field(
        default_factory=lambda: {
            4: 160,
            8: 140,
            16: 120,
            32: 100,
            64: 80,
            128: 60,
            256: 40,
            512: 30,
            1024: 20,
        }
    )
    minibatch_repeats: int = 4

    def __post_init__(self):
        _check_resolution("initial_resolution", self.initial_resolution)
        _check_number("total_kimg", self.total_kimg, lo=0.0)
        _check_number("lod_training_kimg", self.lod_training_kimg, lo=0.0)
        _check_number("lod_transition_kimg", self.lod_transition_kimg, lo=0.0)
        _check_positive_int("minibatch_base", self.minibatch_base)
        _check_number("lr_base", self.lr_base, lo=0.0)
        _check_number("tick_kimg_base", self.tick_kimg_base, lo=1e-6)
        _check_positive_int("minibatch_repeats", self.minibatch_repeats)
        for name in ("minibatch_dict", "lr_dict", "tick_kimg_dict"):
            table = _int_keys(getattr(self, name))
            for res, value in table.items():
                _check_resolution(f"{name} key", res)
                if name == "minibatch_dict":
                    _check_positive_int(f"{name}[{res}]", value)
                else:
                    _check_number(f"{name}[{res}]", value, lo=0.0)
            object.__setattr__(self, name, table)


@dataclass(frozen=True)
class TrainingConfig:
    """Losses, optimiser and bookkeeping (official ``train.py`` / ``training_loop`` values)."""

    loss: str = "logistic_r1"  # or "wgan_gp"
    r1_gamma: float = 10.0
    wgan_lambda: float = 10.0
    wgan_epsilon: float = 0.001
    adam_beta1: float = 0.0
    adam_beta2: float = 0.99
    adam_epsilon: float = 1e-8
    g_smoothing_kimg: float = 10.0
    reset_opt_for_new_lod: bool = True
    mirror_augment: bool = False
    seed: int = 1000
    image_snapshot_ticks: int = 1
    network_snapshot_ticks: int = 10

    def __post_init__(self):
        if self.loss not in ("logistic_r1", "wgan_gp"):
            raise ValueError(f"loss must be 'logistic_r1' or 'wgan_gp', got {self.loss!r}")
        _check_number("r1_gamma", self.r1_gamma, lo=0.0)
        _check_number("wgan_lambda", self.wgan_lambda, lo=0.0)
        _check_number("wgan_epsilon", self.wgan_epsilon, lo=0.0)
        _check_number("adam_beta1", self.adam_beta1, lo=0.0, hi=1.0)
        _check_number("adam_beta2", self.adam_beta2, lo=0.0, hi=1.0)
        _check_number("adam_epsilon", self.adam_epsilon, lo=0.0)
        _check_number("g_smoothing_kimg", self.g_smoothing_kimg, lo=0.0)
        _check_positive_int("seed", self.seed, minimum=0)
        _check_positive_int("image_snapshot_ticks", self.image_snapshot_ticks)
        _check_positive_int("network_snapshot_ticks", self.network_snapshot_ticks)


@dataclass(frozen=True)
class Config:
    """Everything one run needs. Serialisable to and from JSON."""

    G: GeneratorConfig = field(default_factory=GeneratorConfig)
    D: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def __post_init__(self):
        if self.G.img_resolution != self.D.img_resolution:
            raise ValueError(
                f"G.img_resolution ({self.G.img_resolution}) != D.img_resolution "
                f"({self.D.img_resolution})"
            )
        if self.G.img_channels != self.D.img_channels:
            raise ValueError(
                f"G.img_channels ({self.G.img_channels}) != D.img_channels ({self.D.img_channels})"
            )
        if self.G.c_dim != self.D.c_dim:
            raise ValueError(f"G.c_dim ({self.G.c_dim}) != D.c_dim ({self.D.c_dim})")
        if self.schedule.initial_resolution > self.G.img_resolution:
            raise ValueError(
                f"schedule.initial_resolution ({self.schedule.initial_resolution}) exceeds "
                f"img_resolution ({self.G.img_resolution})"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown config sections: {sorted(unknown)}")
        parts = {}
        for name, klass in (
            ("G", GeneratorConfig),
            ("D", DiscriminatorConfig),
            ("schedule", ScheduleConfig),
            ("training", TrainingConfig),
        ):
            if name in data:
                parts[name] = _dataclass_from_dict(klass, data[name], name)
        return cls(**parts)

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text))

    def replace(self, **sections) -> Config:
        """``cfg.replace(G={'c_dim': 10}, schedule={'total_kimg': 100})``; resolution and
        channels given in ``G`` are mirrored into ``D``."""
        new = {}
        for name, changes in sections.items():
            if name not in ("G", "D", "schedule", "training"):
                raise ValueError(f"unknown config section {name!r}")
            current = getattr(self, name)
            _reject_unknown(type(current), changes, name)
            new[name] = dataclasses.replace(current, **changes)
        return dataclasses.replace(self, **new)


def _reject_unknown(klass, values: dict, where: str) -> None:
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in {where}")


def _dataclass_from_dict(klass, values: dict, where: str):
    _reject_unknown(klass, values, where)
    return klass(**values)


def _preset(
    res,
    channels_=None,
    *,
    mapping_layers=8,
    z_dim=512,
    minibatch=None,
    img_channels=3,
    initial_resolution=8,
    total_kimg=25000.0,
    training_kimg=600.0,
    transition_kimg=600.0,
    mapping_fmaps=None,
    tick_kimg=None,
    mirror=False,
):
    base, cmax = channels_ if channels_ else (16384, 512)
    mb_base, mb_dict = minibatch if minibatch else (32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32})
    g = GeneratorConfig(
        img_resolution=res,
        img_channels=img_channels,
        z_dim=z_dim,
        w_dim=z_dim,
        channel_base=base,
        channel_max=cmax,
        mapping_layers=mapping_layers,
        mapping_fmaps=mapping_fmaps or z_dim,
    )
    d = DiscriminatorConfig(
        img_resolution=res, img_channels=img_channels, channel_base=base, channel_max=cmax
    )
    sched_kwargs = dict(
        initial_resolution=initial_resolution,
        total_kimg=total_kimg,
        lod_training_kimg=training_kimg,
        lod_transition_kimg=transition_kimg,
        minibatch_base=mb_base,
        minibatch_dict=mb_dict,
    )
    if tick_kimg is not None:
        sched_kwargs.update(tick_kimg_base=tick_kimg, tick_kimg_dict={})
    return Config(
        G=g,
        D=d,
        schedule=ScheduleConfig(**sched_kwargs),
        training=TrainingConfig(mirror_augment=mirror),
    )


# Official per-GPU-count minibatch tables (train.py L46-49); 8 GPUs is the paper default.
MINIBATCH_BY_GPUS = {
    1: (4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
    2: (8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
    4: (16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
    8: (32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}),
}

PRESETS = {
    # The official FFHQ 1024^2 configuration (train.py defaults, 8 GPUs).
    "paper1024": _preset(1024, mirror=True),
    "paper512": _preset(512),
    "paper256": _preset(256),
    # The bundled demo: 5,000 real MNIST digits at 32^2, 4^2 -> 32^2 on a 2-core CPU in
    # minutes (README, Quick start, gives the measured time). Class-conditional (the digits' labels; official LabelConcat / LabelSwitch):
    # unconditional runs of this budget collapsed to one or two digits at 32^2. Shorter phases
    # with longer fade-ins (4 + 10 kimg), lr 0.002 and a 1 kimg G_ema half-life fit the short
    # schedule; R1 gamma stays at the official 10.
    "mnist32": _preset(
        32,
        (512, 64),
        mapping_layers=4,
        z_dim=128,
        img_channels=1,
        initial_resolution=4,
        total_kimg=70.0,
        training_kimg=4.0,
        transition_kimg=10.0,
        minibatch=(32, {4: 64, 8: 64, 16: 32, 32: 32}),
        tick_kimg=4.0,
    ).replace(
        G={"c_dim": 10},
        D={"c_dim": 10},
        schedule={"lr_base": 0.002, "lr_dict": {}},
        training={"r1_gamma": 10.0, "g_smoothing_kimg": 1.0},
    ),
    # Tiny configuration for tests: 16^2, 8 to 32 channels, 2 mapping layers.
    "tiny": _preset(
        16,
        (256, 32),
        mapping_layers=2,
        z_dim=32,
        img_channels=3,
        initial_resolution=4,
        total_kimg=1.0,
        training_kimg=0.1,
        transition_kimg=0.1,
        minibatch=(8, {}),
        tick_kimg=0.2,
    ),
}


def get_preset(name: str) -> Config:
    """Return the named preset; raise ``ValueError`` naming the choices if unknown."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


# ------------------------------------------------------------------------------------------------
# The automatic configuration (``run_training.py --data DIR``, preset ``auto``)

# The paper's schedule, kept by auto except where a short run or a CPU needs less.
PAPER_TOTAL_KIMG = 25000.0
PAPER_PHASE_KIMG = 600.0
PAPER_G_SMOOTHING_KIMG = 10.0
# A machine without a GPU trains the same architecture narrower: 1/16 of the paper's
# channel_base (feature maps 64 up to 16^2, halving above), channel_max 64, latents of 128, and
# a default length of 100 kimg instead of 25,000.
CPU_CHANNEL_BASE = 1024
CPU_CHANNEL_MAX = 64
CPU_LATENT = 128
CPU_TOTAL_KIMG = 100.0


def auto_minibatch_table(replicas: int) -> tuple[int, dict, str]:
    """``(minibatch_base, minibatch_dict, where from)`` for ``replicas`` devices.

    1, 2, 4 and 8 replicas get the official train.py table for that many GPUs; other counts the
    table of the next smaller official count scaled by ``replicas / that count``, rounded down
    to a multiple of ``4 * replicas`` (every replica's share splits into minibatch-stddev groups
    of 4), at least ``4 * replicas``.
    """
    _check_positive_int("replicas", replicas)
    if replicas in MINIBATCH_BY_GPUS:
        base, table = MINIBATCH_BY_GPUS[replicas]
        return base, dict(table), f"official table for {replicas} GPU(s)"
    ref = max(k for k in MINIBATCH_BY_GPUS if k <= replicas)
    base, table = MINIBATCH_BY_GPUS[ref]
    step = 4 * replicas

    def scale(v):
        return max(step, (v * replicas // ref) // step * step)

    scaled = {r: scale(v) for r, v in table.items()}
    return scale(base), scaled, f"official {ref}-GPU table x {replicas}/{ref}"


def auto_config(
    resolution: int,
    img_channels: int,
    label_dim: int = 0,
    *,
    replicas: int = 1,
    gpu: bool = True,
    total_kimg: float | None = None,
) -> tuple[Config, list]:
    """The configuration ``--preset auto`` builds for a dataset, on the paper's rules.

    Args:
        resolution, img_channels, label_dim: the dataset's (a power of two >= 4; 1 or 3; 0 for
            no labels, else the networks are conditional on ``label_dim``-d labels).
        replicas: devices training in parallel (picks the official minibatch table).
        gpu: False on a machine without a GPU: narrower networks (``CPU_*``) and a default
            length of ``CPU_TOTAL_KIMG``.
        total_kimg: the run's length (default: 25,000, the paper's, or ``CPU_TOTAL_KIMG``).

    Rules: feature maps ``min(channel_base // res, channel_max)`` with the paper's 16384 / 512
    (official ``fmap_base`` 8192, ``fmap_max`` 512); 8 mapping layers; the official minibatch
    table for ``replicas`` (:func:`auto_minibatch_table`) and learning-rate table; initial
    resolution 8 (4 for a 4^2 dataset); 600 kimg per stable phase and per fade-in, unless the
    run is too short to reach full resolution by its half, then every phase is
    ``total_kimg / (4 * phases)`` long (full resolution at half the run); ticks at most
    ``total_kimg / 10``; G_ema half-life 10 kimg, at most ``total_kimg / 10``; R1 gamma 10.

    Returns:
        ``(config, rows)``, rows being ``(setting, value, why)`` string triples for the table
        printed before training (:func:`format_auto_table`) and saved in training_options.json.
    """
    _check_resolution("resolution", resolution)
    if img_channels not in (1, 3):
        raise ValueError(f"img_channels must be 1 or 3, got {img_channels!r}")
    _check_positive_int("label_dim", label_dim, minimum=0)
    rows = []
    kind = "the paper's" if gpu else "CPU-only machine: narrower than the paper's"
    if gpu:
        base, cmax, latent = 16384, 512, 512
    else:
        base, cmax, latent = CPU_CHANNEL_BASE, CPU_CHANNEL_MAX, CPU_LATENT
    rows.append(("resolution", f"{resolution}", "the dataset's"))
    rows.append(
        (
            "channels",
            f"{img_channels}",
            "the dataset's" + (" (grayscale)" if img_channels == 1 else ""),
        )
    )
    rows.append(
        (
            "labels",
            f"{label_dim}-d (conditional)" if label_dim else "none (unconditional)",
            "the dataset's",
        )
    )
    maps = ", ".join(
        f"{r}:{channels(r, base, cmax)}"
        for r in (2**k for k in range(2, int(math.log2(resolution)) + 1))
    )
    rows.append(
        ("channel_base / max", f"{base} / {cmax}", kind + (" (16384 / 512)" if not gpu else ""))
    )
    rows.append(("feature maps", maps, "min(channel_base // res, channel_max)"))
    rows.append(("z / w dim", f"{latent} / {latent}", kind + (" (512)" if not gpu else "")))
    rows.append(("mapping layers", "8", "the paper's"))

    if total_kimg is None:
        total_kimg = PAPER_TOTAL_KIMG if gpu else CPU_TOTAL_KIMG
        why = "the paper's" if gpu else f"CPU-only machine (the paper's is {PAPER_TOTAL_KIMG:g})"
    else:
        why = "--kimg"
    _check_number("total_kimg", total_kimg, lo=1e-6)
    total_kimg = float(total_kimg)
    rows.append(("total kimg", f"{total_kimg:g}", why))
    initial = min(8, resolution)
    phases = int(math.log2(resolution)) - int(math.log2(initial))
    rows.append(
        ("initial resolution", f"{initial}", "the paper's" if initial == 8 else "dataset is 4^2")
    )
    phase = PAPER_PHASE_KIMG
    why = "the paper's"
    if phases and total_kimg < 4 * phases * PAPER_PHASE_KIMG:
        phase = total_kimg / (4 * phases)
        why = f"the paper's {PAPER_PHASE_KIMG:g} shortened: full resolution at half the run"
    rows.append(("stable / fade-in kimg", f"{phase:g} / {phase:g}", why))

    mb_base, mb_dict, why = auto_minibatch_table(replicas)
    used = {
        r: mb_dict.get(r, mb_base)
        for r in (2**k for k in range(int(math.log2(initial)), int(math.log2(resolution)) + 1))
    }
    rows.append(("replicas", f"{replicas}", "found on this machine" if gpu else "CPU"))
    rows.append(("minibatch", ", ".join(f"{r}:{v}" for r, v in used.items()), why))
    sched = ScheduleConfig()
    lrs = {r: sched.lr_dict.get(r, sched.lr_base) for r in used}
    rows.append(
        ("learning rate", ", ".join(f"{r}:{v:g}" for r, v in lrs.items()), "official table")
    )
    cap = total_kimg / 10.0
    ticks = {r: min(float(v), cap) for r, v in sched.tick_kimg_dict.items()}
    tick_base = min(sched.tick_kimg_base, cap)
    why = (
        "official table"
        if cap >= max(sched.tick_kimg_dict.values())
        else "official table, at most kimg/10"
    )
    rows.append(("tick kimg", ", ".join(f"{r}:{ticks.get(r, tick_base):g}" for r in used), why))
    smoothing = min(PAPER_G_SMOOTHING_KIMG, cap)
    why = (
        "the paper's" if smoothing == PAPER_G_SMOOTHING_KIMG else "the paper's 10, at most kimg/10"
    )
    rows.append(("G_ema half-life kimg", f"{smoothing:g}", why))
    rows.append(("R1 gamma", "10", "the paper's"))

    g = GeneratorConfig(
        img_resolution=resolution,
        img_channels=img_channels,
        z_dim=latent,
        w_dim=latent,
        c_dim=label_dim,
        channel_base=base,
        channel_max=cmax,
        mapping_fmaps=latent,
    )
    d = DiscriminatorConfig(
        img_resolution=resolution,
        img_channels=img_channels,
        c_dim=label_dim,
        channel_base=base,
        channel_max=cmax,
    )
    schedule = ScheduleConfig(
        initial_resolution=initial,
        total_kimg=total_kimg,
        lod_training_kimg=phase,
        lod_transition_kimg=phase,
        minibatch_base=mb_base,
        minibatch_dict=mb_dict,
        tick_kimg_base=tick_base,
        tick_kimg_dict=ticks,
    )
    training = TrainingConfig(g_smoothing_kimg=smoothing)
    return Config(G=g, D=d, schedule=schedule, training=training), rows


def format_auto_table(rows) -> str:
    """The rows of :func:`auto_config` as an aligned text table."""
    rows = [("setting", "value", "why"), *[tuple(r) for r in rows]]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows)
