"""Our weight names <-> the official TF1 StyleGAN variable names (``docs/official-semantics.md#weight-names-and-pickles``).

The official networks are NCHW; ours are NHWC. Kernels (``[kh, kw, in, out]``) and dense
weights (``[in, out]``) have the same layout in both, so only the learned constant
(``[1, C, 4, 4]``) and the stored noise maps (``[1, 1, H, W]``) are transposed. The
discriminator flattens its 4x4 features in NCHW order, so ``4x4/Dense0/weight`` also copies 1:1.

Names are those of ``Gs.vars`` / ``D.vars`` in the official code: ``G_mapping/...`` and
``G_synthesis/...`` for the generator components, ``dlatent_avg`` for G's own variable, and
plain local names for D. The scalar ``lod`` variables carry no weights and are ignored.
"""

from __future__ import annotations

import math

import numpy as np

# How a value is converted from the official layout to ours.
COPY = "copy"
NCHW_TO_NHWC = "nchw_to_nhwc"  # [1, C, H, W] -> [1, H, W, C]


def _lod(res, img_resolution):
    return int(math.log2(img_resolution)) - int(math.log2(res))


def generator_name_table(G) -> dict:
    """``{official_name: (keras_variable, layout)}`` for every variable of a :class:`Generator`."""
    table = {}
    m = G.mapping
    if m.c_dim:
        table["G_mapping/LabelConcat/weight"] = (m.embed, COPY)
    for i, dense in enumerate(m.dense_layers):
        table[f"G_mapping/Dense{i}/weight"] = (dense.kernel, COPY)
        table[f"G_mapping/Dense{i}/bias"] = (dense.bias, COPY)
    s = G.synthesis
    for idx, layer in enumerate(s.layers_):
        res = layer.resolution
        scope = {"const": "Const", "conv": "Conv" if res == 4 else "Conv1", "up": "Conv0_up"}
        prefix = f"G_synthesis/{res}x{res}/{scope[layer.kind]}"
        if layer.kind == "const":
            table[f"{prefix}/const"] = (layer.const.const, NCHW_TO_NHWC)
        else:
            table[f"{prefix}/weight"] = (layer.conv.kernel, COPY)
        if layer.use_noise:
            table[f"{prefix}/Noise/weight"] = (layer.noise.weight, COPY)
            table[f"G_synthesis/noise{idx}"] = (layer.noise.noise_const, NCHW_TO_NHWC)
        table[f"{prefix}/bias"] = (layer.bias.bias, COPY)
        table[f"{prefix}/StyleMod/weight"] = (layer.style.dense.kernel, COPY)
        table[f"{prefix}/StyleMod/bias"] = (layer.style.dense.bias, COPY)
    for res in s.resolutions:
        rgb = s.torgb(res)
        lod = _lod(res, s.img_resolution)
        table[f"G_synthesis/ToRGB_lod{lod}/weight"] = (rgb.kernel, COPY)
        table[f"G_synthesis/ToRGB_lod{lod}/bias"] = (rgb.bias, COPY)
    table["dlatent_avg"] = (G.w_avg, COPY)
    return table


def discriminator_name_table(D) -> dict:
    """``{official_name: (keras_variable, layout)}`` for every variable of a :class:`Discriminator`."""
    table = {}
    for res in D.resolutions:
        rgb = D.fromrgb(res)
        lod = _lod(res, D.img_resolution)
        table[f"FromRGB_lod{lod}/weight"] = (rgb.kernel, COPY)
        table[f"FromRGB_lod{lod}/bias"] = (rgb.bias, COPY)
        if res > 4:
            block = D.block(res)
            for ours, theirs in ((block.conv0, "Conv0"), (block.conv1, "Conv1_down")):
                table[f"{res}x{res}/{theirs}/weight"] = (ours.kernel, COPY)
                table[f"{res}x{res}/{theirs}/bias"] = (ours.bias, COPY)
    for ours, theirs in ((D.conv, "Conv"), (D.dense0, "Dense0"), (D.dense1, "Dense1")):
        table[f"4x4/{theirs}/weight"] = (ours.kernel, COPY)
        table[f"4x4/{theirs}/bias"] = (ours.bias, COPY)
    return table


def name_table(model) -> dict:
    """The official-name table of a Generator or a Discriminator."""
    from networks.discriminator import Discriminator
    from networks.generator import Generator

    if isinstance(model, Generator):
        return generator_name_table(model)
    if isinstance(model, Discriminator):
        return discriminator_name_table(model)
    raise ValueError(f"expected a Generator or Discriminator, got {type(model).__name__}")


def _to_ours(value, layout):
    value = np.asarray(value)
    if layout == NCHW_TO_NHWC:
        return np.transpose(value, (0, 2, 3, 1))
    return value


def _to_official(value, layout):
    value = np.asarray(value)
    if layout == NCHW_TO_NHWC:
        return np.transpose(value, (0, 3, 1, 2))
    return value


IGNORED_NAMES = ("lod", "G_synthesis/lod", "G_mapping/lod")


def load_official_weights(model, weights: dict, strict: bool = True) -> list:
    """Assign ``{official_name: ndarray}`` (official layouts) into ``model``.

    Every name the model expects must be present with the official shape; a missing or
    misshaped name raises ``ValueError`` naming it, before anything is assigned. With
    ``strict``, names the model does not know (other than the ``lod`` scalars) are an error too.
    Returns the list of assigned names.
    """
    table = name_table(model)
    missing = [name for name in table if name not in weights]
    if missing:
        raise ValueError(
            f"missing official variable(s): {', '.join(missing[:10])}"
            + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else "")
        )
    converted = {}
    for name, (var, layout) in table.items():
        value = _to_ours(weights[name], layout)
        if tuple(value.shape) != tuple(var.shape):
            expected = _to_official(np.zeros(var.shape), layout).shape
            raise ValueError(
                f"official variable {name} has shape {tuple(np.shape(weights[name]))},"
                f" expected {tuple(expected)}"
            )
        converted[name] = value
    if strict:
        unknown = sorted(
            n
            for n in weights
            if n not in table and n not in IGNORED_NAMES and not n.endswith("/lod")
        )
        if unknown:
            raise ValueError(f"unexpected official variable(s): {', '.join(unknown[:10])}")
    for name, (var, _) in table.items():
        var.assign(converted[name].astype(var.dtype))
    return list(table)


def export_official_weights(model) -> dict:
    """``{official_name: ndarray}`` in the official layouts, the inverse of
    :func:`load_official_weights`."""
    return {
        name: _to_official(np.asarray(var.numpy() if hasattr(var, "numpy") else var), layout)
        for name, (var, layout) in name_table(model).items()
    }
