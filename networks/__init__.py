"""StyleGAN networks as Keras 3 layers and models (``keras`` / ``keras.ops`` only)."""

from networks.discriminator import Discriminator
from networks.generator import Generator
from networks.layers import (
    Bias,
    ConstantInput,
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStddev,
    NoiseInjection,
    PixelNorm,
    StyleModulation,
)
from networks.mapping import MappingNetwork
from networks.synthesis import SynthesisLayer, SynthesisNetwork

__all__ = [
    "Bias",
    "ConstantInput",
    "Discriminator",
    "EqualizedConv2D",
    "EqualizedDense",
    "Generator",
    "MappingNetwork",
    "MinibatchStddev",
    "NoiseInjection",
    "PixelNorm",
    "StyleModulation",
    "SynthesisLayer",
    "SynthesisNetwork",
]
