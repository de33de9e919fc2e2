"""The projector (stylegan_tf.project) and editing with projected latents (generate
--projected-w), on a tiny 16x16 generator."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from metrics.lpips import LPIPS
from networks import Generator
from stylegan_tf import generate as gen
from stylegan_tf import project as proj
from stylegan_tf.images import load_image, to_uint8

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RES = 16
DIM = 16
RECOVERY_STEPS = 60


def tiny_generator(c_dim=0):
    keras.utils.set_random_seed(12)  # the same weights in every process
    G = Generator(
        img_resolution=RES,
        z_dim=DIM,
        w_dim=DIM,
        c_dim=c_dim,
        channel_base=256,
        channel_max=16,
        mapping_layers=2,
        seed=3,
    )
    rng = np.random.RandomState(0)
    for layer in G.synthesis.layers_:
        layer.noise.weight.assign(rng.uniform(0.1, 0.3, layer.noise.weight.shape).astype("f4"))
    for r in G.synthesis.resolutions:  # images mostly inside [-1, 1]: few clipped pixels
        k = G.synthesis.torgb(r).kernel
        k.assign(k * 0.25)
    return G


@pytest.fixture(scope="module")
def lpips():
    return LPIPS.from_pretrained()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    G = tiny_generator()
    path = tmp_path_factory.mktemp("proj_net") / "G.keras"
    G.save(path)
    return G, str(path)


@pytest.fixture(scope="module")
def known(net):
    """A target made from a known w and known noise maps (not G's stored ones)."""
    G, _ = net
    z = np.random.RandomState(5).randn(1, DIM).astype("f4")
    ws = np.asarray(G.mapping(z))
    noise = [
        np.random.RandomState(7 + i).randn(*s).astype("f4")
        for i, s in enumerate(G.synthesis.noise_shapes(1))
    ]
    return to_uint8(np.asarray(G.synthesis(ws, noise=noise)))


def test_schedule_and_noise_penalty():
    # StyleGAN2 projector schedule: 0 at the start, full lr from 5 % to 75 %, cosine to 0.
    assert proj.learning_rate(0, 1000) == 0.0
    assert proj.learning_rate(25, 1000) == pytest.approx(0.05)
    assert proj.learning_rate(500, 1000) == pytest.approx(0.1)
    assert proj.learning_rate(875, 1000) == pytest.approx(0.05)
    assert proj.latent_noise_scale(0, 1000, 2.0) == pytest.approx(0.1)
    assert proj.latent_noise_scale(375, 1000, 2.0) == pytest.approx(0.025)
    assert proj.latent_noise_scale(800, 1000, 2.0) == 0.0
    # Penalty: numpy re-derivation (roll by one pixel along x and y, 2x2 means down to 8x8).
    maps = [np.random.RandomState(i).randn(2, r, r, 1).astype("f4") for i, r in enumerate((4, 32))]
    expected = np.zeros(2)
    for m in maps:
        v = m[..., 0].astype(np.float64)
        while True:
            expected += np.mean(v * np.roll(v, 1, axis=2), axis=(1, 2)) ** 2
            expected += np.mean(v * np.roll(v, 1, axis=1), axis=(1, 2)) ** 2
            if v.shape[1] <= 8:
                break
            v = v.reshape(2, v.shape[1] // 2, 2, v.shape[2] // 2, 2).mean(axis=(2, 4))
    got = np.asarray(proj.noise_regularization([m for m in maps]))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.fixture(scope="module")
def projectors(net, lpips):
    """One W+ and one W projector (each compiles its step once) shared by the tests."""
    G, _ = net
    return {
        space: proj.Projector(
            G, space, RECOVERY_STEPS, seed=1, mse_weight=1.0, lpips=lpips, w_avg_samples=2000
        )
        for space in ("w+", "w")
    }


def test_recovery_w_plus_beats_w(net, known, lpips, projectors):
    """A generated image is found again. From the mean w and fresh random noise the start is
    far off (LPIPS 0.28, MSE 0.16 in [-1, 1]); 60 steps in W+ (a short run: the default is 1000)
    reach LPIPS 0.082, MSE 0.035 and 20.6 dB PSNR on this machine. Thresholds, with margin for
    other CPUs' float differences: LPIPS below 40 % and MSE below 35 % of the start, PSNR >= 19 dB
    (the image within about 29 gray levels RMS, where the start is at 50). W, one w for all
    layers, must end farther (LPIPS + MSE) than W+ (observed 0.255 vs 0.117). ``mse_weight`` 1
    because at 16x16 LPIPS sees only a few VGG16 features and leaves the gray levels loose."""
    G, _ = net
    results = {space: p.run(known) for space, p in projectors.items()}
    r = results["w+"]
    assert r.lpips_start[0] > 0.2
    assert r.lpips[0] < 0.4 * r.lpips_start[0]
    assert r.mse[0] < 0.35 * r.mse_start[0]
    assert proj.psnr(r.images[0], known[0]) >= 19.0
    w = results["w"]
    assert w.lpips[0] + w.mse[0] > r.lpips[0] + r.mse[0]
    assert w.ws.shape == r.ws.shape == (1, G.num_ws, DIM)
    np.testing.assert_array_equal(w.ws[0], np.repeat(w.w[0], G.num_ws, axis=0))
    # The reported distance is LPIPS.call (the PPL metric's network) on the stored latents.
    x = np.asarray(G.synthesis(r.ws, noise=r.noise))
    ref = np.asarray(lpips([x, known.astype("f4") / 127.5 - 1]))
    np.testing.assert_allclose(r.lpips, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(r.images, to_uint8(x))
    for n in r.noise:  # renormalised after every step
        np.testing.assert_allclose(n.mean(), 0.0, atol=1e-5)
        np.testing.assert_allclose(n.std(), 1.0, rtol=1e-4)


def test_same_seed_same_result(known, projectors):
    p = projectors["w+"]
    p.steps, p.seed = 4, 2
    try:
        a, b = p.run(known, video_every=2), p.run(known, video_every=2)
        p.seed = 3
        c = p.run(known)
    finally:
        p.steps, p.seed = RECOVERY_STEPS, 1
    for x, y in [(a.ws, b.ws), (a.images, b.images), (a.lpips, b.lpips), (a.frames, b.frames)]:
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.noise, b.noise):
        np.testing.assert_array_equal(x, y)
    assert a.frames.shape == (3, 1, RES, RES, 3)  # steps 0 and 2, then the final image
    assert not np.array_equal(a.ws, c.ws)


def _write_targets(d):
    """RGBA 20x12, gray 24x24 and RGB 10x30 targets; returns their paths."""
    rng = np.random.RandomState(0)
    rgba = rng.randint(0, 256, (12, 20, 4), dtype=np.uint8)
    gray = rng.randint(0, 256, (24, 24), dtype=np.uint8)
    rgb = rng.randint(0, 256, (30, 10, 3), dtype=np.uint8)
    paths = [str(d / "rgba.png"), str(d / "gray.png"), str(d / "tall.png")]
    Image.fromarray(rgba, "RGBA").save(paths[0])
    Image.fromarray(gray, "L").save(paths[1])
    Image.fromarray(rgb, "RGB").save(paths[2])
    return paths, (rgba, gray, rgb)


def test_target_conversion(tmp_path):
    """Targets are converted as the dataset tool does: alpha composited on black, gray to RGB,
    non-square center-cropped, then Lanczos-resized (checked against direct Pillow/numpy)."""
    paths, (rgba, gray, rgb) = _write_targets(tmp_path)
    lanczos = Image.Resampling.LANCZOS
    arr, note = proj.load_target(paths[0], RES, 3)
    comp = np.rint(rgba[..., :3] * (rgba[..., 3:].astype(np.float64) / 255)).astype(np.uint8)
    ref = np.asarray(Image.fromarray(comp[:, 4:16]).resize((RES, RES), lanczos))
    np.testing.assert_array_equal(arr, ref)
    assert "alpha composited on black" in note and "center-cropped to 12x12" in note
    arr, note = proj.load_target(paths[1], RES, 3)
    ref = np.asarray(Image.fromarray(gray).resize((RES, RES), lanczos))
    np.testing.assert_array_equal(arr, np.repeat(ref[..., None], 3, axis=-1))
    assert "gray replicated to RGB" in note and "resized to 16x16" in note
    arr, note = proj.load_target(paths[2], RES, 1)  # a gray network: ITU-R 601-2 luma
    luma = np.asarray(Image.fromarray(rgb).convert("L"))[10:20]  # the central 10x10
    ref = np.asarray(Image.fromarray(luma).resize((RES, RES), lanczos))
    np.testing.assert_array_equal(arr[..., 0], ref)
    assert "RGB to gray" in note and "center-cropped to 10x10" in note


@pytest.fixture(scope="module")
def cli_run(net, tmp_path_factory):
    """One command-line projection of three odd targets (2 steps) and a second of two photos."""
    G, path = net
    d = tmp_path_factory.mktemp("proj_cli")
    paths, _ = _write_targets(d)
    out = d / "out"
    argv = ["--network", path, "--outdir", str(out), "--steps", "3", "--seed", "4"]
    argv += ["--w-avg-samples", "300", "--save-video"]
    for p in paths:
        argv += ["--target", p]
    assert proj.main(argv) == 0
    return G, path, paths, out


def test_cli_outputs(cli_run, capsys):
    G, _, paths, out = cli_run
    assert sorted(os.listdir(out)) == ["gray", "projection.jsonl", "rgba", "tall"]
    lines = [json.loads(x) for x in open(out / "projection.jsonl")]
    assert [os.path.basename(x["target"]) for x in lines] == ["rgba.png", "gray.png", "tall.png"]
    assert "alpha composited on black" in lines[0]["conversion"]
    for name, rec in zip(["rgba", "gray", "tall"], lines):
        d = out / name
        assert sorted(os.listdir(d)) == ["proj.gif", "proj.png", "projected_w.npz", "target.png"]
        with np.load(d / "projected_w.npz", allow_pickle=False) as z:
            ws = z["ws"]
            noise = [z[f"noise{i}"][None] for i in range(G.num_ws)]
            settings = json.loads(str(z["settings"]))
            assert float(z["lpips"]) == pytest.approx(rec["lpips"])
        assert ws.shape == (G.num_ws, DIM) and settings["space"] == "w+"
        assert settings["steps"] == 3 and settings["seed"] == 4
        assert settings["regularize_noise_weight"] == 1e5
        img = to_uint8(np.asarray(G.synthesis(ws[None], noise=noise)))[0]
        np.testing.assert_array_equal(load_image(d / "proj.png"), img)
        with Image.open(d / "proj.gif") as gif:
            assert gif.size == (2 * RES, RES) and gif.n_frames >= 2
    target, _ = proj.load_target(paths[0], RES, 3)
    np.testing.assert_array_equal(load_image(out / "rgba" / "target.png"), target)


def test_unreadable_target(net, tmp_path):
    """A target that is not an image: one line naming it, exit 1, nothing written (in a
    subprocess, so a crash would fail the test)."""
    _, path = net
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(good)
    out = tmp_path / "out"
    for target in (bad, tmp_path / "missing.jpg"):
        res = subprocess.run(
            [sys.executable, "-m", "stylegan_tf.project", "--network", path]
            + ["--target", str(good), "--target", str(target), "--outdir", str(out)],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=ROOT),
            cwd=ROOT,
            timeout=300,
        )
        assert res.returncode == 1, res.stderr[-2000:]
        lines = res.stderr.strip().splitlines()
        assert (
            len(lines) == 1 and lines[0].startswith("error: --target ") and str(target) in lines[0]
        )
        assert "Traceback" not in res.stderr
        assert not out.exists()


# ------------------------------------------------------------------------------------------
# generate --projected-w


def _projected(out, name):
    return str(out / name / "projected_w.npz")


def _stored(G, npz):
    with np.load(npz, allow_pickle=False) as z:
        return z["ws"][None], [z[f"noise{i}"][None] for i in range(G.num_ws)]


def _tile(grid, row, col):
    return grid[row * RES : (row + 1) * RES, col * RES : (col + 1) * RES]


def test_generate_projected_images_and_style_mixing(cli_run, tmp_path):
    G, path, _, out = cli_run
    a, b = _projected(out, "rgba"), _projected(out, "gray")
    assert gen.main(["--network", path, "--outdir", str(tmp_path), "--projected-w", a]) == 0
    assert os.listdir(tmp_path) == ["proj-rgba.png"]
    np.testing.assert_array_equal(
        load_image(tmp_path / "proj-rgba.png"), load_image(out / "rgba" / "proj.png")
    )
    # Rows: two projected photos; columns: seeds 1, 2; coarse styles (layers 0-3) from columns.
    argv = ["--network", path, "--outdir", str(tmp_path), "--figure", "style-mixing"]
    argv += ["--projected-w", a, "--row-seeds", b, "--col-seeds", "1,2", "--styles", "coarse"]
    assert gen.main(argv) == 0
    grid = load_image(tmp_path / "style-mixing.png")
    assert grid.shape == (3 * RES, 3 * RES, 3)
    z = np.random.RandomState(2).randn(1, DIM).astype("f4")
    col_ws = np.asarray(G.mapping(z))
    for row, npz in ((1, a), (2, b)):
        ws, noise = _stored(G, npz)
        np.testing.assert_array_equal(
            _tile(grid, row, 0), to_uint8(np.asarray(G.synthesis(ws, noise=noise)))[0]
        )
        mixed = ws.copy()
        mixed[:, :4] = col_ws[:, :4]
        ref = to_uint8(np.asarray(G.synthesis(mixed, noise=noise)))[0]
        np.testing.assert_array_equal(_tile(grid, row, 2), ref)
    # The column headers are the seeds' images as before (stored noise).
    ref = to_uint8(np.asarray(G(z, noise_mode="const")))[0]
    np.testing.assert_array_equal(_tile(grid, 0, 2), ref)


def test_generate_projected_truncation_noise_interpolation(cli_run, tmp_path):
    G, path, _, out = cli_run
    a, b = _projected(out, "rgba"), _projected(out, "tall")
    base = ["--network", path, "--outdir", str(tmp_path)]
    assert gen.main(base + ["--figure", "truncation", "--projected-w", a, "--psis=0.5,1"]) == 0
    grid = load_image(tmp_path / "truncation.png")
    ws, noise = _stored(G, a)
    avg = np.asarray(G.w_avg)
    ref = to_uint8(np.asarray(G.synthesis(avg + 0.5 * (ws - avg), noise=noise)))[0]
    np.testing.assert_array_equal(_tile(grid, 0, 0), ref)
    np.testing.assert_array_equal(_tile(grid, 0, 1), load_image(out / "rgba" / "proj.png"))
    # Interpolation between two projected photos: keyframes are exactly their projections.
    argv = base + [
        "--figure",
        "interpolation",
        "--seeds",
        f"{a},{b}",
        "--frames",
        "2",
        "--space",
        "w",
    ]
    assert gen.main(argv) == 0
    frames = sorted(os.listdir(tmp_path / "interpolation_frames"))
    assert len(frames) == 3
    first, mid, last = (load_image(tmp_path / "interpolation_frames" / f) for f in frames)
    np.testing.assert_array_equal(first, load_image(out / "rgba" / "proj.png"))
    np.testing.assert_array_equal(last, load_image(out / "tall" / "proj.png"))
    ws_b, noise_b = _stored(G, b)
    mix_noise = [0.5 * x + 0.5 * y for x, y in zip(noise, noise_b)]
    ref = to_uint8(np.asarray(G.synthesis(0.5 * ws + 0.5 * ws_b, noise=mix_noise)))[0]
    assert np.abs(mid.astype(int) - ref).max() <= 1
    assert gen.main(argv[:-1] + ["z"]) == 2  # projected latents live in W
    # Noise figure: reproducible random draws for a projected latent.
    assert gen.main(base + ["--figure", "noise", "--projected-w", b, "--num-draws", "2"]) == 0
    assert load_image(tmp_path / "noise.png").shape == (RES, 3 * RES, 3)


def test_generate_projected_w_checked(net, tmp_path):
    G, path = net
    bad = tmp_path / "bad.npz"
    np.savez(bad, ws=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="bad.npz"):
        gen.load_projected_w(bad, G)
    obj = tmp_path / "obj.npz"
    np.savez(obj, ws=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):  # never unpickled
        gen.load_projected_w(obj, G)
    assert (
        gen.main(["--network", path, "--outdir", str(tmp_path / "o"), "--projected-w", str(bad)])
        == 2
    )


def test_conditional_network(lpips, tmp_path):
    """Labels are folded into W: no label is needed; --class picks the starting mean w."""
    G = tiny_generator(c_dim=2)
    n = 200
    z = np.random.RandomState(123).randn(n, DIM).astype("f4")
    p_all = proj.Projector(G, "w", 1, lpips=lpips, w_avg_samples=n)
    p_one = proj.Projector(G, "w", 1, class_idx=1, lpips=lpips, w_avg_samples=n)
    c_all = np.eye(2, dtype="f4")[np.arange(n) % 2]
    c_one = np.eye(2, dtype="f4")[np.ones(n, int)]
    for p, c in ((p_all, c_all), (p_one, c_one)):
        ref = np.asarray(G.mapping(z, c))[:, 0].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(p.w_avg, ref, rtol=1e-5, atol=1e-6)
    assert np.abs(p_all.w_avg - p_one.w_avg).max() > 1e-3
    with pytest.raises(ValueError, match="--class"):
        proj.Projector(G, "w", 1, class_idx=2, lpips=lpips, w_avg_samples=n)
    # generate renders a projected latent of a conditional network without --class.
    npz = tmp_path / "projected_w.npz"
    ws = np.repeat(p_one.w_avg[None], G.num_ws, axis=0)
    np.savez(npz, ws=ws)
    r = gen.Renderer(G, require_class=False)
    img = r.images([gen.load_projected_w(npz, G)])
    ref = to_uint8(np.asarray(G.synthesis(ws[None], noise_mode="const")))
    np.testing.assert_array_equal(img, ref)
    with pytest.raises(ValueError, match="conditional"):
        r.images([0])  # a seed still needs --class
