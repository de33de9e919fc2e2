"""Linear separability (`ls`) for user-supplied attribute classifiers.

As the official StyleGAN `metrics/linear_separability.py`:

1. sample `num_samples` images from G (no truncation, random noise), box-downsampled to 256 if
   larger, and keep z and w = dlatents[:, -1];
2. per classifier (logit l per image): probabilities `softmax([l, -l])`; keep the `num_keep`
   most confident samples; label = argmax;
3. fit a linear SVM (sklearn's `LinearSVC()` defaults: squared hinge, L2, C = 1, an intercept
   regularised like a weight) on z, and separately on w, predict the same samples;
4. conditional entropy H(label | SVM prediction) in bits from the 2x2 joint table;
5. score per space = 2 ** (sum of the entropies over classifiers): `ls_z` and `ls_w`.

The SVM is solved in the primal with scipy's L-BFGS (no scikit-learn dependency); the
objective is strongly convex, so it has the same unique optimum that liblinear approaches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.optimize
import tensorflow as tf

from metrics.metric_utils import MetricOptions, box_downsample, compile_for, sample_labels

__all__ = [
    "classifier_probabilities",
    "compute_ls",
    "conditional_entropy",
    "fit_linear_svm",
    "separability",
]


def fit_linear_svm(x, y, C: float = 1.0, max_iter: int = 1000, tol: float = 1e-6):
    """L2-regularised squared-hinge linear SVM (sklearn `LinearSVC()` objective).

    Minimises 0.5 |w|^2 + C sum_i max(0, 1 - y_i (w . [x_i, 1]))^2 with y in {-1, +1}; the
    intercept is the weight of a constant feature 1 (intercept_scaling = 1), so it is
    regularised too, as in liblinear.

    Args:
      x: [N, D] inputs.
      y: [N] labels in {0, 1}.

    Returns:
      (weights [D], intercept) of the decision function x . w + b (> 0 predicts 1).
    """
    x = np.asarray(x, np.float64)
    s = np.where(np.asarray(y) > 0, 1.0, -1.0)
    xa = np.concatenate([x, np.ones([len(x), 1])], axis=1)  # [N, D + 1]
    sx = xa * s[:, None]

    def objective(w):
        margin = 1.0 - sx @ w
        active = margin > 0
        m = margin[active]
        f = 0.5 * w @ w + C * (m @ m)
        g = w - 2.0 * C * (sx[active].T @ m)
        return f, g

    res = scipy.optimize.minimize(
        objective,
        np.zeros(xa.shape[1]),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12},
    )
    return res.x[:-1], float(res.x[-1])


def _entropy_bits(p) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def conditional_entropy(table) -> float:
    """H(Y | X) in bits of a joint table p[x, y] (normalised here), clipped at 0.

    Computed as H(Y) - I(X; Y), as the official code does.
    """
    p = np.asarray(table, np.float64)
    p = p / p.sum()
    px, py = p.sum(axis=1), p.sum(axis=0)
    mutual = 0.0
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            if p[i, j] > 0:
                mutual += p[i, j] * np.log2(p[i, j] / (px[i] * py[j]))
    return max(0.0, _entropy_bits(py) - mutual)


def classifier_probabilities(logits) -> np.ndarray:
    """Official `softmax([l, -l])`: [N] logits -> [N, 2] probabilities."""
    logit = np.asarray(logits, np.float64).reshape(-1, 1)
    z = np.concatenate([logit, -logit], axis=1)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def separability(inputs: dict[str, np.ndarray], probabilities: Sequence, num_keep: int) -> dict:
    """Separability score per input space.

    Args:
      inputs: `{space_name: [N, D] vectors}` (e.g. {"z": latents, "w": dlatents[:, -1]}).
      probabilities: per attribute, [N, 2] classifier probabilities.
      num_keep: most confident samples kept per attribute.

    Returns:
      `{space_name: 2 ** sum_attr H(label | svm prediction)}` and the per-attribute entropies
      under `"entropies"`.
    """
    entropies = {space: [] for space in inputs}
    for probs in probabilities:
        probs = np.asarray(probs, np.float64)
        order = np.argsort(-probs.max(axis=1), kind="stable")[:num_keep]
        targets = np.argmax(probs[order], axis=1)
        for space, x in inputs.items():
            x = np.asarray(x)[order]
            if len(np.unique(targets)) < 2:
                outputs = targets  # the official code assumes a perfect fit when the SVM fails
            else:
                w, b = fit_linear_svm(x, targets)
                outputs = (x @ w + b > 0).astype(np.int64)
            table = [
                [np.mean((outputs == row) & (targets == col)) for col in (0, 1)] for row in (0, 1)
            ]
            entropies[space].append(conditional_entropy(table))
    scores = {space: float(2.0 ** np.sum(values)) for space, values in entropies.items()}
    scores["entropies"] = entropies
    return scores


def compute_ls(
    opts: MetricOptions,
    num_samples: int = 200_000,
    num_keep: int = 100_000,
    classifiers: Sequence[Callable] | None = None,
) -> dict:
    """Linear separability of `opts.G` for `classifiers` (default `opts.classifiers`).

    Each classifier maps float NHWC images in [-1, 1] (box-downsampled to 256 if larger) to one
    logit per image (a Keras model or any callable). Returns `{"ls_z": ..., "ls_w": ...}`.
    """
    classifiers = list(classifiers if classifiers is not None else opts.classifiers)
    if not classifiers:
        raise ValueError(
            "metric 'ls' needs attribute classifiers (MetricOptions.classifiers / "
            "--classifiers): each maps [-1, 1] NHWC images to one logit per image"
        )
    if not 0 < int(num_keep) <= int(num_samples):
        raise ValueError(f"need 0 < num_keep <= num_samples, got {num_keep}, {num_samples}")
    G = opts.require_G("ls")
    n = opts.minibatch
    factor = max(1, G.img_resolution // 256)

    def generate(z, c):
        ws = tf.convert_to_tensor(G.mapping(z, c), tf.float32)  # [n, num_ws, w_dim]
        images = tf.convert_to_tensor(G.synthesis(ws, noise_mode="random"), tf.float32)
        return ws[:, -1], box_downsample(images, factor)

    generate = compile_for(G, generate)
    rng = np.random.default_rng(opts.seed)
    zs, ws, logits = [], [], [[] for _ in classifiers]
    with opts.progress(num_samples, "ls") as bar:
        for begin in range(0, num_samples, n):
            m = min(n, num_samples - begin)
            z = rng.standard_normal([n, G.z_dim]).astype(np.float32)
            c = sample_labels(rng, n, G.c_dim)
            w_last, images = generate(z, c)
            zs.append(z[:m])
            ws.append(np.asarray(w_last)[:m])
            for out, clf in zip(logits, classifiers):
                out.append(np.asarray(clf(images), np.float64).reshape(n, -1)[:m, 0])
            bar.update(m)
    probabilities = [classifier_probabilities(np.concatenate(x)) for x in logits]
    scores = separability(
        {"z": np.concatenate(zs), "w": np.concatenate(ws)}, probabilities, int(num_keep)
    )
    return {"ls_z": scores["z"], "ls_w": scores["w"]}
