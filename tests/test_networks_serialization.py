"""Every Keras class registered by ``networks/`` is fully described by its ``get_config()``: each
constructor argument is stored under its own name and survives ``serialize_keras_object`` /
``deserialize_keras_object`` (tests/helpers.py: run_serialization_test)."""

import keras
import pytest
from helpers import constructor_arguments, run_serialization_test

import networks
from networks import layers as L
from networks.discriminator import Discriminator, DiscriminatorBlock
from networks.generator import Generator
from networks.mapping import MappingNetwork
from networks.synthesis import SynthesisLayer, SynthesisNetwork
from stylegan_tf.config import DiscriminatorConfig, GeneratorConfig

# One case per registered class; every constructor argument with a non-default value, except:
DEFAULTS_OK = {L.EqualizedConv2D: ("kernel_size",)}
CASES = {
    L.EqualizedDense: dict(
        units=7, gain=1.0, lr_multiplier=0.01, use_bias=False, activation="lrelu"
    ),
    L.EqualizedConv2D: dict(
        filters=5,
        kernel_size=3,  # the default, as fused=True needs it; presence is still checked
        gain=1.0,
        lr_multiplier=0.5,
        resample="up",
        fused=True,
        use_bias=False,
        activation="lrelu",
    ),
    L.Bias: dict(lr_multiplier=0.01, activation="lrelu"),
    L.PixelNorm: dict(epsilon=1e-6),
    L.NoiseInjection: dict(resolution=8, seed=3),
    L.StyleModulation: dict(channels=4),
    L.ConstantInput: dict(channels=8, size=2),
    L.MinibatchStddev: dict(group_size=2, num_features=2),
    MappingNetwork: dict(
        z_dim=8,
        w_dim=8,
        c_dim=2,
        num_ws=4,
        num_layers=2,
        layer_features=16,
        lr_multiplier=0.1,
        normalize_latents=False,
    ),
    SynthesisLayer: dict(channels=8, resolution=8, kind="up", fused=True, use_noise=False),
    SynthesisNetwork: dict(
        w_dim=8,
        img_resolution=16,
        img_channels=1,
        channel_base=64,
        channel_max=16,
        fused_scale=True,
        use_noise=False,
    ),
    Generator: dict(
        img_resolution=16,
        img_channels=1,
        z_dim=8,
        w_dim=8,
        c_dim=2,
        channel_base=64,
        channel_max=16,
        mapping_layers=2,
        mapping_fmaps=16,
        mapping_lr_multiplier=0.1,
        truncation_psi=0.5,
        truncation_cutoff=2,
        w_avg_beta=0.9,
        style_mixing_prob=0.5,
        fused_scale=True,
        use_noise=False,
        seed=3,
    ),
    DiscriminatorBlock: dict(in_channels=8, out_channels=16, fused=True),
    Discriminator: dict(
        img_resolution=16,
        img_channels=1,
        c_dim=2,
        channel_base=64,
        channel_max=16,
        mbstd_group_size=2,
        mbstd_num_features=2,
        fused_scale=True,
    ),
}


def test_every_registered_class_has_a_case():
    registered = {
        cls
        for cls in keras.saving.get_custom_objects().values()
        if isinstance(cls, type) and cls.__module__.split(".")[0] == networks.__name__
    }
    assert registered == set(CASES), sorted(c.__name__ for c in registered ^ set(CASES))


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_serialization(cls):
    run_serialization_test(cls, CASES[cls], DEFAULTS_OK.get(cls, ()))


class _ForgetsGain(L.EqualizedDense):
    def get_config(self):
        config = super().get_config()
        del config["gain"]
        return config


class _HardCodesGain(L.EqualizedDense):
    def get_config(self):
        return {**super().get_config(), "gain": 2.0**0.5}


@keras.saving.register_keras_serializable(package="stylegan_tf_tests")
class _DropsGainOnLoad(L.EqualizedDense):
    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "gain"})


@pytest.mark.parametrize(
    "cls, match",
    [
        (_ForgetsGain, "lacks constructor argument 'gain'"),
        (_HardCodesGain, r"get_config\(\)\['gain'\] is 1.414"),
        (_DropsGainOnLoad, "'gain' is 1.414.* after the round trip"),
    ],
)
def test_serialization_helper_catches_a_lost_argument(cls, match):
    with pytest.raises(AssertionError, match=match):
        run_serialization_test(cls, CASES[L.EqualizedDense])


@pytest.mark.parametrize(
    "model, config", [(Generator, GeneratorConfig), (Discriminator, DiscriminatorConfig)]
)
def test_model_defaults_agree_with_their_config_dataclass(model, config):
    # Generator(...) with no arguments must be the network GeneratorConfig() describes.
    args = constructor_arguments(model)
    fields = {f.name: f.default for f in config.__dataclass_fields__.values()}
    assert set(fields) <= set(args), sorted(set(fields) - set(args))
    for name, default in fields.items():
        assert args[name].default == default, (name, args[name].default, default)
