"""Command line: evaluate metrics of a trained generator.

    python -m metrics.run_metrics --network PATH --data DIR --metrics fid50k,ppl_wend
    python -m metrics.run_metrics --network PATH --metrics fid1k,ppl_wend --num 1000  # on a CPU

PATH is a `.keras` generator snapshot or a run directory (its newest `network-snapshot-*.keras`,
through `stylegan_tf.loading.load_generator`). Each result is printed
to stdout and appended as one JSON line to `<outdir>/metric-<name>.jsonl` (`--outdir` defaults
to the run directory holding the snapshot, else the current directory). When the run directory
has a `training_options.json`, its mirror-augmentation setting (and data path, if recorded) are
used unless given here.

`--num N` sets the sample count of `ppl_*` and `ls` (official 100k / 200k are the defaults);
FID and KID take theirs from the name (`fid1k`, `fid10k`, `fid50k`). Progress goes to stderr
with an ETA: one redrawn line on a terminal, whole lines in a log. Invalid arguments and a
`--network` that cannot be loaded give one `error:` line and exit code 2. `--help` answers
without importing TensorFlow.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

from stylegan_tf import rundir

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__all__ = ["load_network", "main"]


def _newest_snapshot(run_dir: str) -> str | None:
    snapshots = rundir.list_snapshots(run_dir)
    if snapshots:
        return snapshots[-1]
    others = sorted(glob.glob(os.path.join(run_dir, "*.keras")))
    preferred = [p for p in others if os.path.basename(p) in ("G_ema.keras", "Gs.keras")]
    return (preferred or others or [None])[-1]


def _run_dir_of(path: str) -> str | None:
    """The run directory a snapshot, run directory or checkpoint path belongs to."""
    here = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    for candidate in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(candidate, rundir.OPTIONS_FILE)):
            return candidate
    return here if rundir.list_snapshots(here) else None


def load_network(path: str):
    """Loads a generator from a `.keras` snapshot, a run directory or a checkpoint.

    Loading is `stylegan_tf.loading.load_generator`'s (which also reads checkpoints).

    Returns:
      `(G, description of what was loaded, run directory or None)`.
    """
    from stylegan_tf.loading import load_generator

    path = os.fspath(path)
    G = load_generator(path)
    snapshot = (_newest_snapshot(path) or path) if os.path.isdir(path) else path
    return G, snapshot, _run_dir_of(path)


def _find_key(obj, keys):
    if isinstance(obj, dict):
        for key in keys:
            if key in obj and not isinstance(obj[key], dict):
                return obj[key]
        for value in obj.values():
            found = _find_key(value, keys)
            if found is not None:
                return found
    return None


def _run_options(run_dir: str | None) -> dict:
    if run_dir is None:
        return {}
    path = os.path.join(run_dir, rundir.OPTIONS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        options = json.load(f)
    return {
        "mirror": _find_key(options, ("mirror_augment", "mirror")),
        "data": _find_key(options, ("data", "data_dir", "dataset", "data_path")),
    }


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _load_classifiers(paths: str):
    import keras

    return [keras.saving.load_model(p, compile=False) for p in paths.split(",") if p]


class _UsageError(Exception):
    """A bad argument or an unloadable --network: one ``error:`` line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, (FileNotFoundError, ValueError)) else f"{type(e).__name__}: {text}"


def build_parser() -> argparse.ArgumentParser:
    from metrics.registry import describe_metrics

    names = "\n".join(f"  {k:<15} {v}" for k, v in describe_metrics().items())
    parser = _Parser(
        prog="python -m metrics.run_metrics",
        description="Evaluate metrics of a trained StyleGAN generator.",
        epilog="metrics:\n" + names,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--network", required=True, help=".keras snapshot or run directory")
    parser.add_argument("--data", help="dataset directory (FID/KID); default: the run's")
    parser.add_argument("--metrics", default="fid50k", help="comma-separated (default fid50k)")
    parser.add_argument(
        "--num",
        type=int,
        help="samples of ppl_* and ls (default: the official 100k / 200k); FID/KID take "
        "theirs from the name (fid1k, fid10k)",
    )
    parser.add_argument("--outdir", help="where metric-NAME.jsonl goes (default: run dir or cwd)")
    parser.add_argument("--mirror", type=_parse_bool, help="x-flip reals (default: the run's)")
    parser.add_argument("--cache-dir", help="real-statistics cache (default ~/.cache/stylegan_tf)")
    parser.add_argument("--batch", type=int, default=16, help="images per batch and GPU")
    parser.add_argument("--gpus", type=int, default=1, help="number of GPUs (scales the batch)")
    parser.add_argument("--seed", type=int, default=0, help="seed of latents and noise")
    parser.add_argument("--classifiers", default="", help="comma-separated .keras files (ls)")
    parser.add_argument("--fid-method", default="sqrtm", choices=("sqrtm", "eigh"))
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--stage",
        type=int,
        default=None,
        help="progressive-growing stage to evaluate, upsampled to full resolution as the "
        "official code does (default: an imported snapshot's stage, else full)",
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    return parser


def _stage_of(args, G):
    """(stage, alpha): --stage, else the imported snapshot's (import_info.json), else full."""
    try:
        from stylegan_tf.loading import resolve_stage
    except ImportError:
        return G.img_resolution, 1.0
    try:
        return resolve_stage(args.network, G, args.stage)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv=None) -> int:
    try:
        return _main(argv)
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _main(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from metrics.registry import calc_metric, check_num
    from stylegan_tf.util import import_tensorflow_quietly, tune_host_allocator

    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    try:
        if not names:
            raise ValueError("--metrics is empty")
        for name in names:
            check_num(name, args.num)
    except ValueError as e:
        parser.error(str(e).replace("num must", "--num must"))
    if not os.path.exists(args.network):
        parser.error(f"--network {args.network!r} does not exist")
    tune_host_allocator()
    import_tensorflow_quietly(verbose=args.verbose)
    from metrics.metric_utils import MetricOptions
    from stylegan_tf.files import append_jsonl

    try:
        G, snapshot, run_dir = load_network(args.network)
    except Exception as e:  # a user's file: one line, no traceback
        parser.error(f"cannot load --network {args.network!r}: {_one_line(e)}")
    stage, alpha = _stage_of(args, G)
    if (stage, alpha) != (G.img_resolution, 1.0):
        from stylegan_tf.loading import StagedGenerator

        G = StagedGenerator(G, stage, alpha)
    run = _run_options(run_dir)
    mirror = args.mirror if args.mirror is not None else bool(run.get("mirror") or False)
    data = args.data or run.get("data")
    outdir = args.outdir or run_dir or os.getcwd()
    try:
        opts = MetricOptions(
            G=G,
            dataset=data,
            mirror=mirror,
            cache_dir=args.cache_dir,
            batch_size=args.batch,
            num_gpus=args.gpus,
            seed=args.seed,
            verbose=not args.quiet,
            classifiers=_load_classifiers(args.classifiers),
            fid_method=args.fid_method,
        )
    except Exception as e:  # bad --batch / --gpus values or --classifiers files
        parser.error(_one_line(e))
    for name in names:
        try:
            record = calc_metric(name, opts, args.num)
        except (ValueError, FileNotFoundError) as e:  # e.g. FID without --data
            parser.error(f"{name}: {_one_line(e)}")
        record.update(
            network=os.path.abspath(snapshot),
            data=None if data is None else os.path.abspath(os.fspath(data)),
            mirror=mirror,
            num_gpus=args.gpus,
            stage=stage,
            alpha=alpha,
            timestamp=time.time(),
        )
        results = " ".join(f"{k} {v:.4f}" for k, v in record["results"].items())
        count = f" ({record['num']:,} samples)" if record.get("num") else ""
        print(
            f"{os.path.basename(snapshot):<30} time {record['total_time']:8.1f}s {results}{count}",
            flush=True,
        )
        append_jsonl(os.path.join(outdir, f"metric-{name}.jsonl"), record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
