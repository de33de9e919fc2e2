"""Inference SavedModel / TFLite export of the generator (stylegan_tf.export)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from networks import Generator
from stylegan_tf import export
from stylegan_tf.images import to_uint8

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
Z_DIM = 32
PSI = 0.7


def tiny_generator(c_dim=0, seed=1):
    G = Generator(
        img_resolution=16,
        z_dim=Z_DIM,
        w_dim=Z_DIM,
        c_dim=c_dim,
        channel_base=256,
        channel_max=32,
        mapping_layers=2,
        seed=seed,
    )
    rng = np.random.RandomState(seed)
    # Non-default noise strengths and w_avg so that noise and truncation change the output.
    for layer in G.synthesis.layers_:
        layer.noise.weight.assign(rng.uniform(0.2, 0.6, layer.noise.weight.shape).astype("float32"))
    G.w_avg.assign((rng.randn(Z_DIM) * 0.5).astype("float32"))
    return G


def keras_images(G, z, c=None, psi=PSI):
    return to_uint8(np.asarray(G(z, c, truncation_psi=psi, noise_mode="const")))


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    G = tiny_generator()
    out = export.export_saved_model(G, d / "sm", tflite_path=d / "g.tflite")
    z = np.random.RandomState(0).randn(4, Z_DIM).astype(np.float32)
    return G, out, d, z


def test_signatures_listed_by_saved_model_cli(exported):
    _, out, _, _ = exported
    res = subprocess.run(
        [os.path.join(BIN, "saved_model_cli"), "show", "--all", "--dir", out],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    for name in export.SIGNATURES:
        assert f"signature_def['{name}']" in res.stdout, name
    assert "(-1, 32)" in res.stdout and "DT_UINT8" in res.stdout


def test_fresh_tensorflow_only_process_matches_keras(exported, tmp_path):
    G, out, _, z = exported
    np.save(tmp_path / "z.npy", z)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf
        m = tf.saved_model.load({out!r})
        z = tf.constant(np.load({str(tmp_path / "z.npy")!r}))
        psi = tf.constant({PSI}, tf.float32)
        sig = m.signatures
        images = sig["serving_default"](z=z, truncation_psi=psi)["images"].numpy()
        ws = sig["mapping"](z=z, truncation_psi=psi)["ws"]
        const = sig["synthesis"](ws=ws, noise_seed=tf.constant(-1, tf.int64))["images"].numpy()
        seeded = sig["synthesis"](ws=ws, noise_seed=tf.constant(7, tf.int64))["images"].numpy()
        seeded2 = sig["synthesis"](ws=ws, noise_seed=tf.constant(7, tf.int64))["images"].numpy()
        seeds = tf.constant([0, 1, 2], tf.int64)
        from_seed = sig["generate_from_seed"](seeds=seeds, truncation_psi=psi)["images"].numpy()
        from_seed2 = sig["generate_from_seed"](seeds=seeds, truncation_psi=psi)["images"].numpy()
        assert not any(k.split(".")[0] in ("networks", "stylegan_tf") for k in sys.modules)
        np.savez({str(tmp_path / "out.npz")!r}, images=images, ws=ws.numpy(), const=const,
                 seeded=seeded, seeded2=seeded2, from_seed=from_seed, from_seed2=from_seed2)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=str(tmp_path),
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    r = np.load(tmp_path / "out.npz")
    ref = keras_images(G, z)
    assert r["images"].dtype == np.uint8 and r["images"].shape == (4, 16, 16, 3)
    assert np.abs(r["images"].astype(int) - ref).max() <= 1
    assert np.abs(r["const"].astype(int) - ref).max() <= 1
    ws_ref = np.asarray(G.truncate(G.mapping(z), PSI))
    np.testing.assert_allclose(r["ws"], ws_ref, atol=1e-5)
    # Stateless noise: reproducible, and not the stored noise.
    np.testing.assert_array_equal(r["seeded"], r["seeded2"])
    assert np.abs(r["seeded"].astype(int) - ref).max() > 5
    # generate_from_seed: reproducible and equal to the official latents RandomState(s).randn.
    np.testing.assert_array_equal(r["from_seed"], r["from_seed2"])
    zs = np.stack([np.random.RandomState(s).randn(Z_DIM) for s in (0, 1, 2)]).astype(np.float32)
    assert np.abs(r["from_seed"].astype(int) - keras_images(G, zs)).max() <= 1


@pytest.mark.parametrize("z_dim", [512, 33])
def test_z_from_seeds_is_numpy_randomstate(z_dim):
    seeds = [0, 1, 5, 123456, 2**32 - 1]
    got = export.z_from_seeds(tf.constant(seeds, tf.int64), z_dim).numpy()
    ref = np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds]).astype(np.float32)
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"seeds must be in \[0, 2\*\*32 - 1\]"
    ):
        export.z_from_seeds(tf.constant([3, -1], tf.int64), z_dim)


def test_saved_model_cli_run_with_z(exported, tmp_path):
    G, out, _, z = exported
    np.save(tmp_path / "z.npy", z[:2])
    np.save(tmp_path / "psi.npy", np.float32(PSI))
    res = subprocess.run(
        [
            os.path.join(BIN, "saved_model_cli"),
            "run",
            "--dir",
            out,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            f"z={tmp_path / 'z.npy'};truncation_psi={tmp_path / 'psi.npy'}",
            "--outdir",
            str(tmp_path / "cli"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    images = np.load(tmp_path / "cli" / "images.npy")
    assert np.abs(images.astype(int) - keras_images(G, z[:2])).max() <= 1


def test_wrong_inputs_give_clear_errors(exported):
    _, out, _, _ = exported
    m = tf.saved_model.load(out)
    serve = m.signatures["serving_default"]
    psi = tf.constant(PSI)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"tensor z \[2,5\].*\[\?,32\]"):
        serve(z=tf.zeros([2, 5]), truncation_psi=psi)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"tensor z \[32\].*\[\?,32\]"):
        serve(z=tf.zeros([Z_DIM]), truncation_psi=psi)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"truncation_psi \[1\].*\[\]"):
        serve(z=tf.zeros([2, Z_DIM]), truncation_psi=tf.constant([PSI]))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="expected to be a float tensor but is a double"
    ):
        serve(z=tf.zeros([2, Z_DIM], tf.float64), truncation_psi=psi)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"tensor ws \[2,5,32\].*\[\?,6,32\]"):
        m.signatures["synthesis"](ws=tf.zeros([2, 5, Z_DIM]), noise_seed=tf.constant(0, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"tensor seeds \[\].*\[\?\]"):
        m.signatures["generate_from_seed"](seeds=tf.constant(3, tf.int64), truncation_psi=psi)
    # The restored tf.functions reject by their TensorSpec and name it.
    with pytest.raises(TypeError, match=r"TensorSpec\(shape=\(None, 32\), dtype=tf.float32"):
        m.serve(tf.zeros([2, 5]), psi)
    with pytest.raises((TypeError, ValueError), match="TensorSpec"):
        m.mapping(tf.zeros([2, Z_DIM], tf.int32), psi)


def test_non_finite_inputs_are_refused(exported):
    _, out, _, z = exported
    m = tf.saved_model.load(out)
    psi = tf.constant(PSI)
    bad_z = z[:2].copy()
    bad_z[1, 3] = np.nan
    for sig in ("serving_default", "mapping"):
        with pytest.raises(tf.errors.InvalidArgumentError, match="input 'z' contains NaN or Inf"):
            m.signatures[sig](z=bad_z, truncation_psi=psi)
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="input 'truncation_psi' contains NaN or Inf"
        ):
            m.signatures[sig](z=z[:2], truncation_psi=tf.constant(np.inf, tf.float32))
    seeds = tf.constant([1, 2], tf.int64)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="input 'truncation_psi' contains NaN or Inf"
    ):
        m.signatures["generate_from_seed"](seeds=seeds, truncation_psi=tf.constant(np.nan))
    ws = np.zeros([2, 6, Z_DIM], np.float32)
    ws[0, 5, 0] = -np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match="input 'ws' contains NaN or Inf"):
        m.signatures["synthesis"](ws=ws, noise_seed=tf.constant(0, tf.int64))
    # Finite inputs still give the Keras images.
    got = m.signatures["serving_default"](z=z[:2], truncation_psi=psi)["images"].numpy()
    assert np.abs(got.astype(int) - keras_images(exported[0], z[:2])).max() <= 1


def test_empty_batch_gives_empty_images(exported):
    _, out, _, _ = exported
    m = tf.saved_model.load(out)
    psi = tf.constant(PSI)
    empty = (0, 16, 16, 3)
    got = m.signatures["serving_default"](z=tf.zeros([0, Z_DIM]), truncation_psi=psi)
    assert got["images"].shape == empty and got["images"].dtype == tf.uint8
    got = m.signatures["mapping"](z=tf.zeros([0, Z_DIM]), truncation_psi=psi)
    assert got["ws"].shape == (0, 6, Z_DIM)
    for seed in (-1, 5):
        got = m.signatures["synthesis"](
            ws=tf.zeros([0, 6, Z_DIM]), noise_seed=tf.constant(seed, tf.int64)
        )
        assert got["images"].shape == empty
    got = m.signatures["generate_from_seed"](seeds=tf.zeros([0], tf.int64), truncation_psi=psi)
    assert got["images"].shape == empty
    # A non-empty call after the empty ones is unaffected.
    seeds = tf.constant([5], tf.int64)
    got = m.signatures["generate_from_seed"](seeds=seeds, truncation_psi=psi)["images"].numpy()
    from stylegan_tf.generate import z_from_seed

    want = keras_images(exported[0], z_from_seed(5, Z_DIM)[None])
    assert np.abs(got.astype(int) - want).max() <= 1


def _signature_ops(meta_graph, signature):
    """Op types reachable from a signature's outputs, through the called functions."""
    funcs = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    todo = [t.name.split(":")[0] for t in meta_graph.signature_def[signature].outputs.values()]
    todo = [nodes[name] for name in todo]
    seen_funcs, ops = set(), set()
    while todo:
        node = todo.pop()
        ops.add(node.op)
        called = [v.func.name for v in node.attr.values() if v.func.name]
        called += [f.name for v in node.attr.values() for f in v.list.func]
        for name in called:
            if name in funcs and name not in seen_funcs:
                seen_funcs.add(name)
                todo.extend(funcs[name].node_def)
        for inp in node.input:
            name = inp.lstrip("^").split(":")[0]
            if name in nodes:
                todo.append(nodes.pop(name))
    return ops


def test_serving_graph_has_no_assign_ops_and_no_w_avg(exported):
    from tensorflow.core.protobuf import saved_model_pb2

    G, out, _, _ = exported
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(out, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    (mg,) = sm.meta_graphs
    assert set(export.SIGNATURES) <= set(mg.signature_def)
    all_ops = set()
    for name in export.SIGNATURES:
        ops = _signature_ops(mg, name)
        assert "Conv2D" in ops or name == "mapping", (name, sorted(ops))
        assert not [o for o in ops if "Assign" in o or o.startswith("RngRead")], (name, ops)
        all_ops |= ops
    assert "StatelessRandomNormalV2" in all_ops
    assert "ReadVariableOp" in all_ops  # weights are variables, read only
    m = tf.saved_model.load(out)
    w_avg = G.w_avg.numpy()
    assert not any(v.shape == w_avg.shape and np.allclose(v.numpy(), w_avg) for v in m.weights)
    info = json.load(open(os.path.join(out, export.INFO_FILE)))
    assert info["num_ws"] == 6 and info["img_resolution"] == 16


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tflite_matches_keras(exported):
    G, _, d, z = exported
    interp = tf.lite.Interpreter(model_path=str(d / "g.tflite"))
    interp.allocate_tensors()
    details = interp.get_input_details()
    inputs = {"z" if len(i["shape"]) == 2 else "truncation_psi": i for i in details}
    assert len(details) == 2 and list(inputs["z"]["shape"]) == [1, Z_DIM], details
    out = interp.get_output_details()[0]
    worst = 0
    for i in range(2):
        interp.set_tensor(inputs["z"]["index"], z[i : i + 1])
        interp.set_tensor(inputs["truncation_psi"]["index"], np.float32(PSI))
        interp.invoke()
        img = interp.get_tensor(out["index"])
        assert img.dtype == np.uint8 and img.shape == (1, 16, 16, 3)
        worst = max(worst, np.abs(img.astype(int) - keras_images(G, z[i : i + 1])).max())
    assert worst <= 1  # stated tolerance: one uint8 level


def test_conditional_export_uses_labels(tmp_path):
    G = tiny_generator(c_dim=3, seed=2)
    out = export.export_saved_model(G, tmp_path / "sm")
    m = tf.saved_model.load(out)
    z = np.random.RandomState(1).randn(2, Z_DIM).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 2]]
    got = m.signatures["serving_default"](z=z, labels=c, truncation_psi=tf.constant(PSI))["images"]
    assert np.abs(got.numpy().astype(int) - keras_images(G, z, c)).max() <= 1
    other = m.signatures["serving_default"](z=z, labels=c[::-1], truncation_psi=tf.constant(PSI))
    assert np.abs(other["images"].numpy().astype(int) - got.numpy()).max() > 5
    with pytest.raises(tf.errors.InvalidArgumentError, match="same N"):
        m.signatures["mapping"](z=z, labels=c[:1], truncation_psi=tf.constant(PSI))
    bad = c.copy()
    bad[0, 1] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="input 'labels' contains NaN or Inf"):
        m.signatures["serving_default"](z=z, labels=bad, truncation_psi=tf.constant(PSI))
    empty = m.signatures["generate_from_seed"](
        seeds=tf.zeros([0], tf.int64), labels=tf.zeros([0, 3]), truncation_psi=tf.constant(PSI)
    )
    assert empty["images"].shape == (0, 16, 16, 3)


def test_export_is_atomic_and_refuses_existing(tmp_path):
    G = tiny_generator()
    target = tmp_path / "sm"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        export.export_saved_model(G, target)
    assert (target / "keep.txt").exists()
    export.export_saved_model(G, target, overwrite=True)
    assert (target / "saved_model.pb").exists() and not (target / "keep.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["sm"]  # no temporary siblings left behind


def test_cli_exports_keras_file(tmp_path):
    G = tiny_generator()
    G.save(tmp_path / "G.keras")
    rc = export.main(["--network", str(tmp_path / "G.keras"), "--out", str(tmp_path / "out")])
    assert rc == 0
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "out").st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    again = export.main(["--network", str(tmp_path / "G.keras"), "--out", str(tmp_path / "out")])
    assert again == 2  # refuses the existing directory with a message, no traceback
    m = tf.saved_model.load(str(tmp_path / "out"))
    z = np.random.RandomState(3).randn(2, Z_DIM).astype(np.float32)
    got = m.signatures["serving_default"](z=z, truncation_psi=tf.constant(1.0))["images"].numpy()
    assert np.abs(got.astype(int) - keras_images(G, z, psi=1.0)).max() <= 1


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tflite_fused_upsampling_at_128(tmp_path):
    # The official fused (transposed-conv) up path is used from 128^2 on; it must convert too.
    G = Generator(
        img_resolution=128,
        z_dim=16,
        w_dim=16,
        channel_base=256,
        channel_max=8,
        mapping_layers=1,
        seed=0,
    )
    assert G.synthesis.layers_[-2].fused
    path = export.export_tflite(G, tmp_path / "g128.tflite")
    interp = tf.lite.Interpreter(model_path=path)
    interp.allocate_tensors()
    for detail in interp.get_input_details():
        value = np.float32(PSI) if len(detail["shape"]) == 0 else np.ones((1, 16), np.float32)
        interp.set_tensor(detail["index"], value)
    interp.invoke()
    img = interp.get_tensor(interp.get_output_details()[0]["index"])
    ref = keras_images(G, np.ones((1, 16), np.float32))
    assert img.shape == (1, 128, 128, 3)
    assert np.abs(img.astype(int) - ref).max() <= 1
