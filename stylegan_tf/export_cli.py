"""Command line of :mod:`stylegan_tf.export`, kept free of TensorFlow until the arguments are
parsed, so that ``--help`` and usage errors answer at once from ``python -m stylegan_tf.export``
and from the installed ``stylegan-export`` alike.

    stylegan-export --network snapshot.keras --out exported/ [--tflite g.tflite]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stylegan_tf.export",
        description="Export a generator as an inference SavedModel (and optionally TFLite).",
    )
    parser.add_argument("--network", required=True, help=".keras snapshot, run dir or checkpoint")
    parser.add_argument("--out", required=True, help="SavedModel directory to create")
    parser.add_argument("--tflite", default=None, help="also write a TFLite model here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--stage",
        type=int,
        default=None,
        help="resolution to export (default: the imported snapshot's stage, else full)",
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from stylegan_tf.util import import_tensorflow_quietly

    import_tensorflow_quietly(verbose=args.verbose)
    from stylegan_tf.export import export_saved_model
    from stylegan_tf.files import DirLock, LockedError, os_error_message
    from stylegan_tf.loading import load_generator, resolve_stage

    try:
        with DirLock(args.out, "export", inside=False):
            G = load_generator(args.network)
            stage, alpha = resolve_stage(args.network, G, args.stage)
            out = export_saved_model(
                G,
                args.out,
                tflite_path=args.tflite,
                overwrite=args.overwrite,
                stage=stage,
                alpha=alpha,
            )
    except FileExistsError as e:
        if e.filename is not None:  # a path through a file
            print(f"error: {os_error_message(e)}", file=sys.stderr)
        else:
            print(f"error: --out {args.out} exists and is not empty (add --overwrite to replace "
                  "it)", file=sys.stderr)  # fmt: skip
        return 2
    except (ValueError, LockedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # missing, unreadable or unwritable path; an existing --out
        print(f"error: {os_error_message(e)}", file=sys.stderr)
        return 2
    print(f"SavedModel: {out}")
    if args.tflite:
        print(f"TFLite: {os.path.abspath(args.tflite)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
