"""Image generation CLI and the paper's figures (stylegan_tf.generate), on a tiny generator."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from networks import Generator
from stylegan_tf import generate as gen
from stylegan_tf.images import load_image, make_grid, save_image_grid, to_uint8

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Z_DIM = 32
RES = 16


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    G = Generator(
        img_resolution=RES,
        z_dim=Z_DIM,
        w_dim=Z_DIM,
        channel_base=256,
        channel_max=32,
        mapping_layers=2,
        seed=3,
    )
    rng = np.random.RandomState(0)
    for layer in G.synthesis.layers_:
        layer.noise.weight.assign(rng.uniform(0.3, 0.6, layer.noise.weight.shape).astype("f4"))
    G.w_avg.assign((rng.randn(Z_DIM) * 0.5).astype("float32"))
    G.save(d / "G.keras")
    return G, str(d / "G.keras")


def keras_image(G, seed, psi=1.0):
    """Independent reference: the official latent, stored noise, truncation as G does it."""
    z = np.random.RandomState(seed).randn(1, Z_DIM).astype(np.float32)
    return to_uint8(np.asarray(G(z, truncation_psi=psi, noise_mode="const")))[0]


def tile(grid, row, col):
    return grid[row * RES : (row + 1) * RES, col * RES : (col + 1) * RES]


def test_seed_images(net, tmp_path):
    G, path = net
    out = tmp_path / "seeds"
    assert gen.main(["--network", path, "--outdir", str(out), "--seeds", "0-2,7"]) == 0
    assert sorted(os.listdir(out)) == [f"seed{s:04d}.png" for s in (0, 1, 2, 7)]
    for s in (0, 7):
        np.testing.assert_array_equal(load_image(out / f"seed{s:04d}.png"), keras_image(G, s))
    gen.main(["--network", path, "--outdir", str(out), "--seeds", "1", "--truncation-psi", "0.5"])
    np.testing.assert_array_equal(load_image(out / "seed0001.png"), keras_image(G, 1, psi=0.5))
    # Random noise: reproducible per seed, different from the stored noise.
    rnd = tmp_path / "rnd"
    for _ in range(2):
        gen.main(
            ["--network", path, "--outdir", str(rnd), "--seeds", "2", "--noise-mode", "random"]
        )
        img = load_image(rnd / "seed0002.png")
        if _ == 0:
            first = img
    np.testing.assert_array_equal(img, first)
    assert np.abs(img.astype(int) - keras_image(G, 2)).max() > 5


def test_style_mixing_figure(net, tmp_path, capsys):
    G, path = net
    rows, cols = [1, 2], [3, 4, 5]
    argv = ["--network", path, "--outdir", str(tmp_path), "--figure", "style-mixing"]
    argv += ["--row-seeds", "1,2", "--col-seeds", "3-5", "--styles", "coarse"]
    assert gen.main(argv) == 0
    grid = load_image(tmp_path / "style-mixing.png")
    assert grid.shape == ((len(rows) + 1) * RES, (len(cols) + 1) * RES, 3)
    assert not tile(grid, 0, 0).any()  # blank corner
    for j, s in enumerate(cols):
        np.testing.assert_array_equal(tile(grid, 0, j + 1), keras_image(G, s))
    for i, s in enumerate(rows):
        np.testing.assert_array_equal(tile(grid, i + 1, 0), keras_image(G, s))
    # Cell (row 2, column 5): the row's w with layers 0-3 taken from the column's w.
    ws = [
        np.asarray(G.mapping(np.random.RandomState(s).randn(1, Z_DIM).astype("f4"))) for s in (2, 5)
    ]
    mixed = ws[0].copy()
    mixed[:, :4] = ws[1][:, :4]
    ref = to_uint8(np.asarray(G.synthesis(mixed, noise_mode="const")))[0]
    np.testing.assert_array_equal(tile(grid, 2, 3), ref)
    assert np.abs(ref.astype(int) - keras_image(G, 2)).max() > 5
    capsys.readouterr()
    assert gen.main(argv[:-1] + ["fine"]) == 2  # 'fine' (layers 8+) is empty for a 16^2 network
    err = capsys.readouterr().err.strip()
    assert err == "error: styles 'fine' select layers [] but this network has layers 0-5"
    assert gen.style_layers("middle", 18) == [4, 5, 6, 7]
    assert gen.style_layers("fine", 18) == list(range(8, 18))


def test_truncation_figure(net, tmp_path):
    G, path = net
    argv = ["--network", path, "--outdir", str(tmp_path), "--figure", "truncation"]
    assert gen.main(argv + ["--seeds", "4,6", "--psis=-1,0,0.5,1"]) == 0
    grid = load_image(tmp_path / "truncation.png")
    assert grid.shape == (2 * RES, 4 * RES, 3)
    np.testing.assert_array_equal(tile(grid, 0, 3), keras_image(G, 4))  # psi 1: untruncated
    np.testing.assert_array_equal(tile(grid, 0, 1), tile(grid, 1, 1))  # psi 0: both are w_avg
    assert np.abs(tile(grid, 0, 0).astype(int) - tile(grid, 1, 0)).max() > 5


def test_noise_figure(net, tmp_path):
    _, path = net
    argv = ["--network", path, "--outdir", str(tmp_path), "--figure", "noise"]
    assert gen.main(argv + ["--seeds", "8,9", "--num-draws", "3"]) == 0
    grid = load_image(tmp_path / "noise.png")
    assert grid.shape == (2 * RES, 4 * RES, 3)
    draws = np.stack([tile(grid, 1, j) for j in range(3)])
    assert np.abs(draws[0].astype(int) - draws[1]).max() > 0  # independent noise draws
    std = np.std(draws.astype(np.float64).mean(axis=3), axis=0) * 4
    expected = np.clip(std + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(tile(grid, 1, 3)[..., 0], expected)
    assert expected.max() > 0


def test_interpolation_figure(net, tmp_path):
    G, path = net
    argv = ["--network", path, "--outdir", str(tmp_path), "--figure", "interpolation"]
    assert gen.main(argv + ["--seeds", "1,2,3", "--frames", "3", "--space", "z"]) == 0
    frames = sorted(os.listdir(tmp_path / "interpolation_frames"))
    assert len(frames) == 3 * 2 + 1
    with Image.open(tmp_path / "interpolation.gif") as gif:
        assert gif.n_frames == 7 and gif.size == (RES, RES)
    first = load_image(tmp_path / "interpolation_frames" / frames[0])
    last = load_image(tmp_path / "interpolation_frames" / frames[-1])
    np.testing.assert_array_equal(first, keras_image(G, 1))
    np.testing.assert_array_equal(last, keras_image(G, 3))
    assert gen.main(argv + ["--seeds", "1,2", "--frames", "2", "--space", "w"]) == 0
    assert len(os.listdir(tmp_path / "interpolation_frames")) == 3  # no stale frames remain


def test_slerp_and_parsing():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    mid = gen.slerp(a, b, 0.5)
    np.testing.assert_allclose(mid, np.array([1.0, 2.0]) * np.sqrt(0.5))
    np.testing.assert_allclose(gen.slerp(a, b, 0.0), a)
    assert gen.parse_int_list("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="'x'"):
        gen.parse_int_list("1,x")
    assert gen.parse_float_list("-1,0.5") == [-1.0, 0.5]


def test_class_argument_checked(net, tmp_path, capsys):
    _, path = net
    rc = gen.main(["--network", path, "--outdir", str(tmp_path), "--seeds", "0", "--class", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == "error: --class given but the network is unconditional (c_dim=0)"
    G = Generator(
        img_resolution=8,
        z_dim=8,
        w_dim=8,
        c_dim=2,
        channel_base=64,
        channel_max=8,
        mapping_layers=1,
    )
    r = gen.Renderer(G, class_idx=1)
    a = r.images([0])
    b = gen.Renderer(G, class_idx=0).images([0])
    assert a.shape == (1, 8, 8, 3) and np.abs(a.astype(int) - b).max() > 0
    with pytest.raises(ValueError, match="conditional"):
        gen.Renderer(G)


def test_image_utilities(tmp_path):
    x = np.array([-1.0, -0.999, 0.0, 0.99, 1.0, 2.0], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 128, 254, 255, 255])
    imgs = np.random.RandomState(0).uniform(-1, 1, (5, 4, 6, 3)).astype(np.float32)
    grid = make_grid(imgs, grid_size=(3, 2))
    assert grid.shape == (8, 18, 3)
    np.testing.assert_array_equal(grid[4:8, 6:12], to_uint8(imgs[4]))
    assert not grid[4:8, 12:18].any()
    save_image_grid(imgs[:, :, :, :1], tmp_path / "g.png")  # grayscale, near-square 3x2
    assert load_image(tmp_path / "g.png").shape == (8, 18, 1)
    assert os.listdir(tmp_path) == ["g.png"]


def test_module_entry_point(net, tmp_path):
    _, path = net
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run(
        [sys.executable, "-m", "stylegan_tf.generate", "--network", path]
        + ["--outdir", str(tmp_path), "--seeds", "3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert os.listdir(tmp_path) == ["seed0003.png"]


def test_renderer_runs_one_compiled_graph_per_batch_shape(net):
    """Rendering seed after seed reuses one traced graph (not eager op-by-op calls), with the
    same images as the eager network: stored noise, random noise and explicit noise maps."""
    G, _ = net
    r = gen.Renderer(G)
    seeds = [0, 1, 2, 7]
    images = r.images(seeds)
    assert r._synthesis.experimental_get_tracing_count() == 1
    assert r._mapping.experimental_get_tracing_count() == 1
    for s, image in zip(seeds, images):
        np.testing.assert_array_equal(image, keras_image(G, s))
    rnd = gen.Renderer(G, noise_mode="random", batch_size=2)
    got = rnd.images(seeds)
    assert rnd._synthesis.experimental_get_tracing_count() == 1
    ws = rnd.ws(seeds)
    for i in (0, 2):
        noise = [
            np.concatenate(n) for n in zip(*(gen.noise_for_seed(G, s) for s in seeds[i : i + 2]))
        ]
        want = to_uint8(np.asarray(G.synthesis(ws[i : i + 2], noise=noise)))
        np.testing.assert_array_equal(got[i : i + 2], want)
