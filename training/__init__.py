"""stylegan-tf: training.

* :mod:`training.schedule`: the progressive-growing schedule, a pure function of images seen.
* :mod:`training.losses`: G/D losses (non-saturating logistic + R1, WGAN-GP) as pure functions.
* :mod:`training.step`: the compiled per-stage step (D update, G_ema update, G update).
* :mod:`training.loop`: the training loop, reading top to bottom.
* :mod:`training.distribute`: strategies, the chief worker, SIGTERM / preemption.
* :mod:`training.outputs`: checkpoints, stats.jsonl, TensorBoard, grids, snapshots.

The command line is ``run_training.py`` in the repository root.
"""
