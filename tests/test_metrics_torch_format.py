"""The torch-format readers (metrics.torch_format) and the numpy allow-list reader
(stylegan_tf.safe_pickle) against files written by torch and by pickle.

`tests/data/torch_state_{zip,legacy}.pth` were written by torch itself (both `torch.save`
formats) with `tests/data/make_inception_reference.py`; `torch_state_expected.npz` holds the
same tensors as plain arrays.
"""

import os
import pickle
import zipfile

import numpy as np
import pytest

from metrics import torch_format
from stylegan_tf import safe_pickle

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.mark.parametrize("name", ["torch_state_zip.pth", "torch_state_legacy.pth"])
def test_torch_state_dict_matches_torch(name):
    got = torch_format.load_torch_state_dict(os.path.join(DATA, name))
    with np.load(os.path.join(DATA, "torch_state_expected.npz")) as expected:
        assert sorted(got) == sorted(expected.files)
        for key in expected.files:
            assert got[key].dtype == expected[key].dtype, key
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_numpy_unpickler_reads_arrays_and_rejects_code(tmp_path):
    good = tmp_path / "good.pkl"
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": np.int64(3)}
    good.write_bytes(pickle.dumps(arrays, protocol=3))
    loaded = safe_pickle.load_numpy_pickle(str(good))
    np.testing.assert_array_equal(loaded["a"]["kernel"], arrays["a"]["kernel"])

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|not allowed"):
        safe_pickle.load_numpy_pickle(str(evil))

    objects = tmp_path / "objects.pkl"
    objects.write_bytes(pickle.dumps(np.array([{"a": 1}], dtype=object)))
    with pytest.raises(pickle.UnpicklingError):
        safe_pickle.load_numpy_pickle(str(objects))


def test_torch_unpickler_rejects_code(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        torch_format.load_torch_state_dict(str(path))
    # A TorchScript-style file may only name __torch__ classes, never arbitrary globals.
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(_Evil(), protocol=2))
        zf.writestr("archive/constants.pkl", pickle.dumps(()))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        torch_format.load_torchscript_params(str(path))


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(pickle.dumps(123))
    with pytest.raises(ValueError, match="bad magic"):
        torch_format.load_torch_state_dict(str(path))
