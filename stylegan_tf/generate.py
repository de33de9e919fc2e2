"""Generate images and the paper's figures from a trained generator.

Latents follow the official convention: the latent of seed ``s`` is
``np.random.RandomState(s).randn(z_dim)`` (as in the official ``pretrained_example.py``), so
an imported official network gives the official images for the same seed. With
``--noise-mode random`` the noise of seed ``s`` is drawn from ``np.random.RandomState([s, 1])``
(reproducible); ``const`` uses the stored noise buffers, ``none`` disables noise.

Commands (one per output)::

    python -m stylegan_tf.generate --network G.keras --outdir out --seeds 0-99
    python -m stylegan_tf.generate --network G.keras --outdir out --figure style-mixing \\
        --row-seeds 85,100,75 --col-seeds 55,821,1789 --styles coarse
    python -m stylegan_tf.generate --network G.keras --outdir out --figure truncation \\
        --seeds 91,388 --psis=-1,-0.5,0,0.5,1
    python -m stylegan_tf.generate --network G.keras --outdir out --figure noise --seeds 1157,1012
    python -m stylegan_tf.generate --network G.keras --outdir out --figure interpolation \\
        --seeds 0,1,2 --frames 30 --space z

Projected photos (``python -m stylegan_tf.project``) work wherever seeds do: every seed list
(``--seeds``, ``--row-seeds``, ``--col-seeds``) also takes ``projected_w.npz`` files, and
``--projected-w FILE.npz`` (repeatable) puts them ahead of ``--seeds`` (of the rows in the
style-mixing figure)::

    python -m stylegan_tf.generate --network G.keras --outdir out --figure style-mixing \\
        --projected-w proj/photo/projected_w.npz --col-seeds 1-5 --styles coarse
    python -m stylegan_tf.generate --network G.keras --outdir out --figure interpolation \\
        --seeds proj/a/projected_w.npz,proj/b/projected_w.npz --space w

A projected latent is its stored ``ws`` (truncation applies to it as to a seed's w). Its noise
is the projection's optimised noise maps with ``--noise-mode const`` (so it reproduces
``proj.png``), reproducible draws keyed by its content with ``random``, none with ``none``. An
interpolation through projected latents also interpolates the noise maps linearly between
keyframes, so that each keyframe is exactly its projection. Projected latents need no
``--class``. Image files are named ``proj-<name>.png`` after the projection's folder.

Style ranges (paper Fig. 3): ``coarse`` = layers 0-3 (4^2-8^2), ``middle`` = 4-7 (16^2-32^2),
``fine`` = 8 and up (64^2+); explicit ranges such as ``0-3`` or ``2,5`` also work. In the
style-mixing grid the top row holds the column seeds, the left column the row seeds, and cell
(row, column) is the row seed's w with the chosen layers taken from the column seed's w.
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from stylegan_tf import files  # noqa: E402
from stylegan_tf import images as imgs  # noqa: E402
from stylegan_tf.util import compile_for  # noqa: E402

FIGURES = ("style-mixing", "truncation", "noise", "interpolation")
NOISE_MODES = ("random", "const", "none")
STYLE_RANGES = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}


def parse_int_list(text: str) -> list:
    """``"0-3,7,10-11"`` -> ``[0, 1, 2, 3, 7, 10, 11]`` (inclusive ranges)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep and lo:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"cannot parse {part!r} in {text!r}: use e.g. '0-3,7'") from None
    if not out:
        raise ValueError(f"no integers in {text!r}")
    return out


def parse_float_list(text: str) -> list:
    """``"-1,-0.5,0"`` -> ``[-1.0, -0.5, 0.0]``."""
    try:
        values = [float(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"cannot parse {text!r} as comma-separated numbers") from None
    if not values:
        raise ValueError(f"no numbers in {text!r}")
    return values


def style_layers(spec: str, num_ws: int) -> list:
    """Layer indices for ``coarse`` / ``middle`` / ``fine`` or an explicit list like ``0-3``."""
    if spec in STYLE_RANGES:
        lo, hi = STYLE_RANGES[spec]
        layers = list(range(lo, num_ws if hi is None else min(hi, num_ws)))
    else:
        layers = parse_int_list(spec)
    bad = [i for i in layers if not 0 <= i < num_ws]
    if bad or not layers:
        raise ValueError(
            f"styles {spec!r} select layers {layers} but this network has layers 0-{num_ws - 1}"
        )
    return layers


class Projected:
    """A latent read from a projector's ``projected_w.npz``: ``ws`` ``[num_ws, w_dim]`` and its
    noise maps (list of ``[1, r, r, 1]``, or None when the file has none)."""

    def __init__(self, path, ws, noise):
        self.path = os.fspath(path)
        self.ws = ws
        self.noise = noise
        self.noise_seed = zlib.crc32(np.ascontiguousarray(ws).tobytes()) & 0x7FFFFFFF
        base = os.path.basename(self.path)
        parent = os.path.basename(os.path.dirname(os.path.abspath(self.path)))
        self.name = parent if base == "projected_w.npz" and parent else os.path.splitext(base)[0]

    def __repr__(self):
        return f"Projected({self.path!r})"


def load_projected_w(path, G) -> Projected:
    """Read a ``projected_w.npz`` for ``G``; raises ValueError naming the file when it does
    not fit (wrong shapes, not a projection, unreadable). Never unpickles."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"--projected-w {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except Exception as e:
        msg = " ".join(str(e).splitlines())
        raise ValueError(f"--projected-w {path}: cannot read: {type(e).__name__}: {msg}") from None
    want = (G.num_ws, G.w_dim)
    ws = arrays.get("ws")
    if ws is None or ws.shape != want or not np.issubdtype(ws.dtype, np.floating):
        got = "no 'ws' array" if ws is None else f"'ws' {ws.dtype} {list(ws.shape)}"
        raise ValueError(
            f"--projected-w {path}: {got}, this network needs float {list(want)} "
            "(a projected_w.npz written by stylegan_tf.project for this network)"
        )
    if not np.all(np.isfinite(ws)):
        raise ValueError(f"--projected-w {path}: 'ws' holds non-finite values")
    noise = None
    shapes = G.synthesis.noise_shapes(1) if G.synthesis.use_noise else []
    if shapes and all(f"noise{i}" in arrays for i in range(len(shapes))):
        noise = []
        for i, shape in enumerate(shapes):
            n = arrays[f"noise{i}"].astype(np.float32)
            if n.shape != shape[1:] or not np.all(np.isfinite(n)):
                raise ValueError(
                    f"--projected-w {path}: 'noise{i}' is {list(n.shape)}, need {list(shape[1:])}"
                )
            noise.append(n[None])
    return Projected(path, ws.astype(np.float32), noise)


def parse_latent_list(text, G=None) -> list:
    """Seeds and projected latents: ``"0-3,proj/a/projected_w.npz"`` -> ``[0, 1, 2, 3,
    Projected(...)]`` (an item ending in ``.npz`` is a file; needs ``G`` to check it)."""
    items = []
    for part in str(text).split(","):
        part = part.strip()
        if part.lower().endswith(".npz"):
            if G is None:
                raise ValueError(f"{part}: projected latents need the network")
            items.append(load_projected_w(part, G))
        elif part:
            items.extend(parse_int_list(part))
    if not items:
        raise ValueError(f"no seeds in {text!r}")
    return items


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """The official latent of a seed: ``np.random.RandomState(seed).randn(z_dim)``, float32."""
    return np.random.RandomState(int(seed)).randn(z_dim).astype(np.float32)


def labels_for(G, class_idx, n: int):
    """One-hot labels ``[n, c_dim]`` for a conditional G, None for an unconditional one."""
    if G.c_dim == 0:
        if class_idx is not None:
            raise ValueError("--class given but the network is unconditional (c_dim=0)")
        return None
    if class_idx is None:
        raise ValueError(f"the network is conditional (c_dim={G.c_dim}): pass --class")
    if not 0 <= class_idx < G.c_dim:
        raise ValueError(f"--class must be in 0..{G.c_dim - 1}, got {class_idx}")
    c = np.zeros((n, G.c_dim), np.float32)
    c[:, class_idx] = 1.0
    return c


def noise_for_seed(G, seed: int, draw: int = 0) -> list:
    """Per-layer noise ``[1, r, r, 1]`` of one image, from ``RandomState([seed, 1 + draw])``."""
    rng = np.random.RandomState([int(seed), 1 + int(draw)])
    return [rng.randn(*shape).astype(np.float32) for shape in G.synthesis.noise_shapes(1)]


class Renderer:
    """Mapping, truncation and synthesis of a Keras generator in batches, on numpy arrays.

    Args:
        G: the generator.
        truncation_psi: psi on layers ``< truncation_cutoff`` (G's cutoff, 8, by default).
        noise_mode: "random" (per-seed reproducible noise), "const" or "none".
        class_idx: class of a conditional network.
        batch_size: images per forward pass. The default 1 makes every image independent of
            what else is rendered: with larger batches, float reduction order in the convolutions
            can change (CPU and GPU kernels block their work by batch size) and a pixel may move
            by one level.
        stage, alpha: progressive-growing stage (resolution) and fade-in; images are
            ``stage`` x ``stage`` (default: the full network).
    """

    def __init__(
        self,
        G,
        truncation_psi=1.0,
        noise_mode="const",
        class_idx=None,
        batch_size=1,
        truncation_cutoff=None,
        require_class=True,
        stage=None,
        alpha=1.0,
    ):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        self.G = G
        self.psi = float(truncation_psi)
        self.cutoff = truncation_cutoff
        self.noise_mode = noise_mode
        self.class_idx = class_idx
        self.batch_size = int(batch_size)
        self.stage = G.synthesis._check_stage(stage)
        self.alpha = float(alpha)
        if require_class or class_idx is not None or G.c_dim == 0:
            labels_for(G, class_idx, 1)  # validates --class early
        # Compiled once per renderer (one trace per batch shape and noise kind), so that
        # rendering many images runs a graph rather than eager op-by-op calls.
        self._mapping = compile_for(G, lambda z, c: G.mapping(z, c))
        self._synthesis = compile_for(
            G,
            lambda w, noise: G.synthesis(
                w, noise=noise, noise_mode=noise_mode, stage=self.stage, alpha=self.alpha
            ),
        )

    def ws(self, seeds, psi=None, cutoff=None) -> np.ndarray:
        """Truncated ``[N, num_ws, w_dim]`` of the seeds' official latents (and of the stored
        ``ws`` of :class:`Projected` items)."""
        ints = [s for s in seeds if not isinstance(s, Projected)]
        if len(ints) == len(seeds):
            zs = np.stack([z_from_seed(s, self.G.z_dim) for s in seeds])
            return self.ws_from_z(zs, psi, cutoff)
        out = np.zeros((len(seeds), self.G.num_ws, self.G.w_dim), np.float32)
        if ints:
            zs = np.stack([z_from_seed(s, self.G.z_dim) for s in ints])
            mapped = iter(self.ws_from_z(zs, psi, cutoff))
        psi = self.psi if psi is None else float(psi)
        cutoff = self.cutoff if cutoff is None else cutoff
        for i, s in enumerate(seeds):
            if isinstance(s, Projected):
                out[i] = np.asarray(self.G.truncate(s.ws[None], psi, cutoff))[0]
            else:
                out[i] = next(mapped)
        return out

    def noise_of(self, item, draw=0):
        """Explicit noise (list of ``[1, r, r, 1]``) of a seed or projected latent under the
        noise mode; None for mode "none"."""
        if self.noise_mode == "none":
            return None
        if self.noise_mode == "random":
            key = item.noise_seed if isinstance(item, Projected) else item
            return noise_for_seed(self.G, key, draw)
        if isinstance(item, Projected) and item.noise is not None:
            return item.noise
        return [np.asarray(layer.noise.noise_const) for layer in self.G.synthesis.layers_]

    def ws_from_z(self, zs, psi=None, cutoff=None) -> np.ndarray:
        psi = self.psi if psi is None else float(psi)
        cutoff = self.cutoff if cutoff is None else cutoff
        out = []
        for i in range(0, len(zs), self.batch_size):
            z = np.asarray(zs[i : i + self.batch_size], np.float32)
            ws = self._mapping(z, labels_for(self.G, self.class_idx, len(z)))
            out.append(np.asarray(self.G.truncate(ws, psi, cutoff)))
        return np.concatenate(out)

    def synthesize(self, ws, noise_seeds=None, draw=0, noise=None) -> np.ndarray:
        """uint8 images ``[N, H, W, C]``; ``noise_seeds[i]`` (a seed or :class:`Projected`) keys
        image i's noise; ``noise`` (list of ``[N, r, r, 1]``) overrides it."""
        out = []
        for i in range(0, len(ws), self.batch_size):
            w = np.asarray(ws[i : i + self.batch_size], np.float32)
            chunk = [] if noise_seeds is None else noise_seeds[i : i + self.batch_size]
            explicit = None  # the noise mode's own noise (stored maps or none)
            if noise is not None:
                explicit = [np.asarray(layer[i : i + self.batch_size]) for layer in noise]
            elif self.noise_mode == "const" and any(isinstance(s, Projected) for s in chunk):
                per_image = [self.noise_of(s) for s in chunk]
                explicit = [np.concatenate(layer) for layer in zip(*per_image)]
            elif self.noise_mode == "random":
                if noise_seeds is None:
                    raise ValueError("random noise needs noise_seeds")
                per_image = [self.noise_of(s, draw) for s in chunk]
                explicit = [np.concatenate(layer) for layer in zip(*per_image)]
            out.append(imgs.to_uint8(np.asarray(self._synthesis(w, explicit))))
        return np.concatenate(out)

    def images(self, seeds) -> np.ndarray:
        """uint8 images of the seeds."""
        return self.synthesize(self.ws(seeds), noise_seeds=list(seeds))


def image_name(item) -> str:
    """``seed%04d.png`` for a seed, ``proj-<name>.png`` for a projected latent."""
    if isinstance(item, Projected):
        return f"proj-{item.name}.png"
    return f"seed{item:04d}.png"


def generate_seed_images(renderer: Renderer, seeds, outdir) -> list:
    """Write ``seed%04d.png`` for every seed (``proj-<name>.png`` for a projected latent);
    returns the paths."""
    paths = []
    for i in range(0, len(seeds), renderer.batch_size):
        chunk = list(seeds[i : i + renderer.batch_size])
        for seed, image in zip(chunk, renderer.images(chunk)):
            paths.append(imgs.save_image(image, os.path.join(outdir, image_name(seed))))
    return paths


def style_mixing_grid(renderer: Renderer, row_seeds, col_seeds, layers) -> np.ndarray:
    """Paper Fig. 3: ``[(R+1)*H, (C+1)*W, ch]`` uint8 grid; the top-left cell is blank."""
    row_ws = renderer.ws(row_seeds)
    col_ws = renderer.ws(col_seeds)
    row_imgs = renderer.synthesize(row_ws, noise_seeds=list(row_seeds))
    col_imgs = renderer.synthesize(col_ws, noise_seeds=list(col_seeds))
    mixed, noise_seeds = [], []
    for r, rs in enumerate(row_seeds):
        for c in range(len(col_seeds)):
            w = row_ws[r].copy()
            w[layers] = col_ws[c][layers]  # the column's styles copied into the row's w
            mixed.append(w)
            noise_seeds.append(rs)
    mixed_imgs = renderer.synthesize(np.stack(mixed), noise_seeds=noise_seeds)
    blank = np.zeros_like(row_imgs[0])
    tiles = [blank, *col_imgs]
    for r in range(len(row_seeds)):
        tiles.append(row_imgs[r])
        tiles.extend(mixed_imgs[r * len(col_seeds) : (r + 1) * len(col_seeds)])
    return imgs.make_grid(np.stack(tiles), grid_size=(len(col_seeds) + 1, len(row_seeds) + 1))


def truncation_grid(renderer: Renderer, seeds, psis) -> np.ndarray:
    """Paper Fig. 8: one row per seed, one column per psi, truncation on *all* layers as the
    official figure script does (``w_avg + psi * (w - w_avg)``)."""
    num_ws = renderer.G.num_ws
    tiles = []
    for seed in seeds:
        ws = np.concatenate([renderer.ws([seed], psi=psi, cutoff=num_ws) for psi in psis])
        tiles.append(renderer.synthesize(ws, noise_seeds=[seed] * len(psis)))
    return imgs.make_grid(np.concatenate(tiles), grid_size=(len(psis), len(seeds)))


def noise_std_image(images_uint8) -> np.ndarray:
    """Per-pixel standard deviation over draws ``[D, H, W, C]`` of the channel mean, x4 (uint8,
    3 channels), as in the paper's Fig. 4 (c)."""
    x = np.asarray(images_uint8, np.float64).mean(axis=3)  # [D, H, W]
    std = np.clip(np.std(x, axis=0) * 4.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(std[..., None], images_uint8.shape[-1], axis=-1)


def noise_grid(renderer: Renderer, seeds, num_draws=4) -> np.ndarray:
    """Paper Fig. 4: per seed (row) ``num_draws`` images of one w with independent noise
    draws, then their per-pixel standard deviation image (last column)."""
    if num_draws < 2:
        raise ValueError(f"--num-draws must be >= 2, got {num_draws}")
    random_noise = Renderer(
        renderer.G,
        renderer.psi,
        "random",
        renderer.class_idx,
        renderer.batch_size,
        renderer.cutoff,
        require_class=False,
        stage=renderer.stage,
        alpha=renderer.alpha,
    )
    tiles = []
    for seed in seeds:
        ws = random_noise.ws([seed])
        draws = np.concatenate(
            [random_noise.synthesize(ws, noise_seeds=[seed], draw=d) for d in range(num_draws)]
        )
        tiles.extend([*draws, noise_std_image(draws)])
    return imgs.make_grid(np.stack(tiles), grid_size=(num_draws + 1, len(seeds)))


def slerp(a, b, t):
    """Spherical interpolation between vectors ``a`` and ``b`` (lerp when nearly parallel)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_frames(renderer: Renderer, seeds, frames=30, space="z") -> np.ndarray:
    """Latent walk through ``seeds`` (keyframes): slerp in z or lerp in w, ``frames`` per
    segment plus the last keyframe; one noise (that of the first seed) for every frame."""
    if len(seeds) < 2:
        raise ValueError(f"interpolation needs at least two seeds, got {list(seeds)}")
    if space not in ("z", "w"):
        raise ValueError(f"--space must be 'z' or 'w', got {space!r}")
    ts = np.arange(frames) / frames
    if any(isinstance(s, Projected) for s in seeds):
        if space != "w":
            raise ValueError("projected latents live in W: interpolate them with --space w")
        keys = renderer.ws(seeds)
        path = [(1 - t) * keys[i] + t * keys[i + 1] for i in range(len(keys) - 1) for t in ts]
        ws = np.stack(path + [keys[-1]]).astype(np.float32)
        key_noise = [renderer.noise_of(s) for s in seeds]
        if key_noise[0] is None:
            return renderer.synthesize(ws, noise_seeds=[seeds[0]] * len(ws))
        noise = []
        for layer in range(len(key_noise[0])):
            a = [k[layer][0] for k in key_noise]
            maps = [(1 - t) * a[i] + t * a[i + 1] for i in range(len(a) - 1) for t in ts]
            noise.append(np.stack(maps + [a[-1]]).astype(np.float32))
        return renderer.synthesize(ws, noise=noise)
    if space == "z":
        zs = [z_from_seed(s, renderer.G.z_dim) for s in seeds]
        path = [slerp(zs[i], zs[i + 1], t) for i in range(len(zs) - 1) for t in ts] + [zs[-1]]
        ws = renderer.ws_from_z(np.stack(path).astype(np.float32))
    else:
        keys = renderer.ws(seeds)
        path = [(1 - t) * keys[i] + t * keys[i + 1] for i in range(len(keys) - 1) for t in ts]
        ws = np.stack(path + [keys[-1]]).astype(np.float32)
    return renderer.synthesize(ws, noise_seeds=[seeds[0]] * len(ws))


def save_frames(frames, frame_dir) -> str:
    """Write ``frame%04d.png`` files into a fresh ``frame_dir`` (replaced as a whole, so no
    stale frames of an earlier, longer run remain)."""
    with files.atomic_directory(frame_dir, overwrite=True) as tmp:
        for i, frame in enumerate(frames):
            imgs.save_image(frame, os.path.join(tmp, f"frame{i:04d}.png"))
    return frame_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m stylegan_tf.generate",
        description="Generate images or one of the paper's figures from a generator.",
    )
    p.add_argument("--network", required=True, help=".keras snapshot, run dir or checkpoint")
    p.add_argument("--outdir", required=True)
    p.add_argument("--figure", choices=FIGURES, default=None, help="a figure instead of images")
    p.add_argument(
        "--seeds",
        default=None,
        help="e.g. 0-99 or 1,5,7 (default 0-7 / per figure); projected_w.npz files work too",
    )
    p.add_argument(
        "--projected-w",
        action="append",
        default=[],
        metavar="FILE.npz",
        help="a projected latent (stylegan_tf.project), repeatable: "
        "put ahead of --seeds (style-mixing: of the rows)",
    )
    p.add_argument(
        "--truncation-psi",
        type=float,
        default=1.0,
        help="truncation psi on layers below the network's cutoff (8); default 1 = no "
        "truncation, the untruncated generator; the official pretrained_example.py uses 0.7",
    )
    p.add_argument("--noise-mode", choices=NOISE_MODES, default="const")
    p.add_argument("--class", dest="class_idx", type=int, default=None)
    p.add_argument(
        "--stage",
        type=int,
        default=None,
        help="resolution to generate at (default: an imported snapshot's stage, else full)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="images per forward pass (>1 is faster but a pixel "
        "may differ by one level from the image rendered alone)",
    )
    p.add_argument(
        "--row-seeds", default=None, help="style-mixing rows (they receive styles; default 0-4)"
    )
    p.add_argument(
        "--col-seeds", default=None, help="style-mixing columns (styles copied; default 5-9)"
    )
    p.add_argument("--styles", default="coarse", help="coarse|middle|fine or layers like 0-3")
    p.add_argument("--psis", default="-1,-0.5,0,0.5,1", help="truncation figure psi values")
    p.add_argument("--num-draws", type=int, default=4, help="noise figure: draws per seed")
    p.add_argument("--frames", type=int, default=30, help="interpolation: frames per segment")
    p.add_argument("--space", choices=("z", "w"), default="z", help="interpolation space")
    p.add_argument("--fps", type=float, default=25.0, help="interpolation GIF frame rate")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    args = p.parse_args(argv)
    from stylegan_tf.util import import_tensorflow_quietly, tune_host_allocator

    tune_host_allocator()
    import_tensorflow_quietly(verbose=args.verbose)

    from stylegan_tf.loading import load_generator

    try:
        with files.DirLock(args.outdir, "generate", inside=False):
            return _run(args, load_generator)
    except (ValueError, files.LockedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # missing, unreadable or unwritable path
        print(f"error: {files.os_error_message(e)}", file=sys.stderr)
        return 2


def _run(args, load_generator) -> int:
    """Everything after argument parsing (errors are turned into one line by main)."""
    from stylegan_tf.loading import resolve_stage

    G = load_generator(args.network)
    stage, alpha = resolve_stage(args.network, G, args.stage)
    projected = [load_projected_w(f, G) for f in args.projected_w]

    def latents(text, default):
        # --projected-w files first, then the list (its default only without them).
        if text is not None:
            return projected + parse_latent_list(text, G)
        return projected + (parse_latent_list(default, G) if default and not projected else [])

    if args.figure == "style-mixing":
        rows = latents(args.row_seeds, "0-4")
        cols = parse_latent_list(args.col_seeds or "5-9", G)
        used = rows + cols
    else:
        seeds = latents(args.seeds, None) or None
        used = seeds or [0]
    needs_class = any(not isinstance(s, Projected) for s in used)
    r = Renderer(
        G,
        args.truncation_psi,
        args.noise_mode,
        args.class_idx,
        args.batch,
        require_class=needs_class,
        stage=stage,
        alpha=alpha,
    )
    out = args.outdir
    os.makedirs(out, exist_ok=True)
    if args.figure is None:
        paths = generate_seed_images(r, seeds or list(range(8)), out)
        print(f"wrote {len(paths)} images to {out}")
    elif args.figure == "style-mixing":
        layers = style_layers(args.styles, G.num_ws)
        grid = style_mixing_grid(r, rows, cols, layers)
        print(imgs.save_image(grid, os.path.join(out, "style-mixing.png")))
    elif args.figure == "truncation":
        grid = truncation_grid(r, seeds or [0, 1], parse_float_list(args.psis))
        print(imgs.save_image(grid, os.path.join(out, "truncation.png")))
    elif args.figure == "noise":
        grid = noise_grid(r, seeds or [0, 1], args.num_draws)
        print(imgs.save_image(grid, os.path.join(out, "noise.png")))
    else:
        frames = interpolation_frames(r, seeds or [0, 1, 2], args.frames, args.space)
        frame_dir = os.path.join(out, "interpolation_frames")
        save_frames(frames, frame_dir)
        gif = os.path.join(out, "interpolation.gif")
        imgs.save_gif(frames, gif, duration_ms=1000.0 / args.fps)
        print(f"{gif} ({len(frames)} frames, PNGs in {frame_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
