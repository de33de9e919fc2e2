"""The one registry of named metrics, and `compute_metrics` for the training loop.

Names:
  fid50k        FID, 50k fakes vs the first 50k reals (file order; mirrored if the run was)
  fid50k_full   FID, 50k fakes vs all reals
  fid{N}k[_full] the same for any N (e.g. fid10k, fid1k_full)
  kid{N}k[_full] KID (optional extra, stylegan2-ada definition)
  ppl_zfull, ppl_wfull, ppl_zend, ppl_wend   perceptual path length (100k pairs, eps 1e-4)
  ls            linear separability (200k samples, keep 100k) for user-supplied classifiers

Example:
    >>> from metrics import compute_metrics
    >>> compute_metrics(G, "data/ffhq", ["fid10k", "ppl_wend"], mirror=True)["results"]
    {'fid10k': 12.3, 'ppl_wend': 180.4}
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable

from metrics.fid import compute_fid
from metrics.kid import compute_kid
from metrics.linear_separability import compute_ls
from metrics.metric_utils import MetricOptions
from metrics.ppl import compute_ppl

__all__ = ["Metric", "calc_metric", "compute_metrics", "get_metric", "list_metrics"]


@dataclasses.dataclass(frozen=True)
class Metric:
    """A named metric: `fn(opts) -> {result_name: value}`."""

    name: str
    fn: Callable[[MetricOptions], dict]
    description: str


def _ppl(space, sampling):
    def fn(opts):
        return {f"ppl_{space}{sampling}": compute_ppl(opts, space, sampling)["ppl"]}

    return fn


def _ls(opts):
    return compute_ls(opts)


_FIXED = {
    **{
        f"ppl_{s}{m}": Metric(
            f"ppl_{s}{m}",
            _ppl(s, m),
            f"perceptual path length in {s.upper()}, {'t ~ U(0,1)' if m == 'full' else 't = 0'}",
        )
        for s in ("z", "w")
        for m in ("full", "end")
    },
    "ls": Metric("ls", _ls, "linear separability in Z and W (needs classifiers)"),
}

_PATTERN = re.compile(r"^(fid|kid)([1-9][0-9]*)k(_full)?$")
_PATTERN_HELP = {
    "fid{N}k": "FID, N*1000 fakes vs the first N*1000 reals (fid50k = the paper's)",
    "fid{N}k_full": "FID, N*1000 fakes vs all reals",
    "kid{N}k": "KID, N*1000 fakes vs the first N*1000 reals",
    "kid{N}k_full": "KID, N*1000 fakes vs all reals",
}


def _from_pattern(name: str) -> Metric | None:
    m = _PATTERN.match(name)
    if m is None:
        return None
    family, thousands, full = m.group(1), int(m.group(2)), bool(m.group(3))
    compute = compute_fid if family == "fid" else compute_kid
    num = thousands * 1000

    def fn(opts):
        return {name: compute(opts, num, full=full)[family]}

    reals = "all reals" if full else f"the first {num} reals"
    return Metric(name, fn, f"{family.upper()}, {num} fakes vs {reals}")


def get_metric(name: str) -> Metric:
    """The metric called `name`; raises ValueError listing the valid names otherwise."""
    if name in _FIXED:
        return _FIXED[name]
    metric = _from_pattern(name)
    if metric is None:
        raise ValueError(f"unknown metric {name!r}; valid: {', '.join(list_metrics())}")
    return metric


def list_metrics() -> list[str]:
    """Valid names: the fixed ones, the usual FID names, and the `{N}` patterns."""
    return ["fid50k", "fid50k_full", *_PATTERN_HELP, *_FIXED]


def describe_metrics() -> dict[str, str]:
    """`{name or pattern: description}` for help texts."""
    out = {name: get_metric(name).description for name in ("fid50k", "fid50k_full")}
    out.update(_PATTERN_HELP)
    out.update({name: metric.description for name, metric in _FIXED.items()})
    return out


def calc_metric(name: str, opts: MetricOptions) -> dict:
    """Runs one metric; returns `{"metric", "results", "total_time"}`."""
    metric = get_metric(name)
    start = time.time()
    results = metric.fn(opts)
    return {"metric": name, "results": results, "total_time": time.time() - start}


def compute_metrics(
    G,
    dataset,
    names,
    *,
    num_gpus: int = 1,
    mirror: bool = False,
    cache_dir=None,
    batch_size: int = 16,
    seed: int = 0,
    verbose: bool = True,
    classifiers=(),
    snapshot: str | None = None,
    **options,
) -> dict:
    """Evaluates the named metrics of generator `G` (called by the training loop).

    Args:
      G: generator (see `metrics.metric_utils`).
      dataset: dataset object, path (opened with `datasets.open_dataset`) or uint8 array.
      names: metric names, a list or a comma-separated string.
      num_gpus: multiplies the per-GPU batch size.
      mirror: the run used mirror augmentation (reals are x-flipped at random as in training).
      cache_dir: real-statistics cache; None = `~/.cache/stylegan_tf`, False = none.
      snapshot: the snapshot file evaluated (only recorded in the result).
      batch_size, seed, verbose, classifiers, **options: see `MetricOptions`.

    Returns:
      `{"results": {result_name: value}, "metrics": names, "total_time": seconds,
      "snapshot": snapshot}`, e.g. results `{"fid10k": 12.3, "ls_z": 10.1, "ls_w": 3.8}`.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    metrics = [get_metric(name) for name in names]  # validate all names first
    opts = MetricOptions(
        G=G,
        dataset=dataset,
        mirror=mirror,
        cache_dir=cache_dir,
        batch_size=batch_size,
        num_gpus=num_gpus,
        seed=seed,
        verbose=verbose,
        classifiers=classifiers,
        **options,
    )
    start = time.time()
    results = {}
    for metric in metrics:
        results.update(metric.fn(opts))
    return {
        "results": results,
        "metrics": names,
        "total_time": time.time() - start,
        "snapshot": snapshot,
    }
