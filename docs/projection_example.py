"""The README's projection example: real handwritten digits the demo model never saw.

    python docs/projection_example.py digits --out digits
        writes digit<i>.png for the given indices of scikit-learn's bundled ``load_digits`` set
        (1,797 8x8 scans from 43 writers, 17 gray levels; values 0..16 scaled to 0..255, ink
        white as in MNIST), each padded with 2 black pixels to 12x12 so that the digit fills
        the frame about as much as an MNIST digit (20 of 28 pixels). The projector then
        resizes them to 32x32 (Lanczos) by the dataset tool's rules.
    python docs/projection_example.py figure --proj proj --mix mix/style-mixing.png \\
        --names digit2,digit3 --out docs/figures/projection.png
        puts each target next to the style-mixing figure's rows: target | projection | the
        projection with the columns' styles.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def write_digits(out, indices):
    from sklearn.datasets import load_digits

    from stylegan_tf.images import save_image

    digits = load_digits()
    os.makedirs(out, exist_ok=True)
    for i in indices:
        x = np.rint(digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
        path = save_image(np.pad(x, 2)[..., None], os.path.join(out, f"digit{i}.png"))
        print(f"{path}: load_digits #{i}, label {digits.target[i]}")


def compose(proj, mix, names, out, res):
    from stylegan_tf.images import load_image, save_image

    grid = load_image(mix)
    rows, cols = grid.shape[0] // res, grid.shape[1] // res
    if rows - 1 != len(names):
        raise SystemExit(f"{mix} has {rows - 1} rows but --names lists {len(names)}")
    blank = np.zeros((res, res, grid.shape[2]), np.uint8)
    column = [blank] + [load_image(os.path.join(proj, n, "target.png")) for n in names]
    figure = np.concatenate([np.concatenate(column, axis=0), grid], axis=1)
    print(save_image(figure, out), f"({rows} x {cols + 1} tiles)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("digits")
    d.add_argument("--out", required=True)
    d.add_argument("--indices", default="2,3,7,8")
    f = sub.add_parser("figure")
    f.add_argument("--proj", required=True, help="the projector's --outdir")
    f.add_argument("--mix", required=True, help="generate's style-mixing.png")
    f.add_argument("--names", required=True, help="target folder names, in row order")
    f.add_argument("--out", required=True)
    f.add_argument("--resolution", type=int, default=32)
    args = p.parse_args(argv)
    if args.cmd == "digits":
        write_digits(args.out, [int(i) for i in args.indices.split(",")])
    else:
        compose(args.proj, args.mix, args.names.split(","), args.out, args.resolution)


if __name__ == "__main__":
    main()
