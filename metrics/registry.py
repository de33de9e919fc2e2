"""The one registry of named metrics, and `compute_metrics` for the training loop.

Names:
  fid50k        FID, 50k fakes vs the first 50k reals (file order; mirrored if the run was)
  fid50k_full   FID, 50k fakes vs all reals
  fid{N}k[_full] the same for any N (e.g. fid10k, fid1k_full)
  kid{N}k[_full] KID (optional extra, stylegan2-ada definition)
  ppl_zfull, ppl_wfull, ppl_zend, ppl_wend   perceptual path length (100k pairs, eps 1e-4)
  ls            linear separability (200k samples, keep 100k) for user-supplied classifiers

`num` (`--num` of `run_metrics`) changes the sample count of the metrics whose name does not
fix it: `ppl_*` (pairs) and `ls` (samples; the most confident half is kept, as 200k/100k).
The official counts stay the defaults. A name that states its count keeps its meaning:
`fid50k` is always 50,000 fakes, and `fid50k` with `num=1000` is refused (use `fid1k`).
The metrics' modules (and TensorFlow) are imported only when a metric runs, so listing and
validating names is cheap.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metrics.metric_utils import MetricOptions

__all__ = ["Metric", "calc_metric", "check_num", "compute_metrics", "get_metric", "list_metrics"]


@dataclasses.dataclass(frozen=True)
class Metric:
    """A named metric: `fn(opts, num) -> {result_name: value}`.

    `num` is the default sample count (the official one), `fixed` says the name states it
    (`fid50k`), so that another count is refused rather than reported under a wrong name.
    """

    name: str
    fn: Callable[[MetricOptions, int | None], dict]
    description: str
    num: int | None = None
    fixed: bool = False

    def resolve_num(self, num=None) -> int | None:
        """The sample count to use for a requested `num` (None: the default)."""
        if num is None:
            return self.num
        if isinstance(num, bool) or int(num) != num or int(num) < 1:
            raise ValueError(f"num must be an integer >= 1, got {num!r}")
        num = int(num)
        if self.fixed and num != self.num:
            family = self.name[:3]
            other = f"{family}{num // 1000}k" if num % 1000 == 0 else f"{family}{{N}}k"
            raise ValueError(
                f"{self.name} is defined by {self.num:,} images; for {num:,} use {other} "
                "(--num sets the count of ppl_* and ls)"
            )
        return num


def _ppl(space, sampling):
    def fn(opts, num):
        from metrics.ppl import compute_ppl

        return {f"ppl_{space}{sampling}": compute_ppl(opts, space, sampling, num)["ppl"]}

    return fn


def _ls(opts, num):
    from metrics.linear_separability import compute_ls

    return compute_ls(opts, num_samples=num, num_keep=max(1, num // 2))


_FIXED = {
    **{
        f"ppl_{s}{m}": Metric(
            f"ppl_{s}{m}",
            _ppl(s, m),
            f"perceptual path length in {s.upper()}, {'t ~ U(0,1)' if m == 'full' else 't = 0'}"
            ", 100k pairs (--num)",
            num=100_000,
        )
        for s in ("z", "w")
        for m in ("full", "end")
    },
    "ls": Metric(
        "ls",
        _ls,
        "linear separability in Z and W (needs classifiers), 200k samples (--num)",
        num=200_000,
    ),
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
    num = thousands * 1000

    def fn(opts, count):
        if family == "fid":
            from metrics.fid import compute_fid as compute
        else:
            from metrics.kid import compute_kid as compute
        return {name: compute(opts, count, full=full)[family]}

    reals = "all reals" if full else f"the first {num} reals"
    return Metric(name, fn, f"{family.upper()}, {num} fakes vs {reals}", num=num, fixed=True)


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


def check_num(name: str, num=None) -> int | None:
    """The sample count metric `name` uses for `num` (None: its official default); raises
    ValueError for an unknown name or a count the name contradicts."""
    return get_metric(name).resolve_num(num)


def calc_metric(name: str, opts: MetricOptions, num: int | None = None) -> dict:
    """Runs one metric; returns `{"metric", "results", "num", "total_time"}` (`num`: the
    sample count used, see the module docstring)."""
    metric = get_metric(name)
    count = metric.resolve_num(num)
    start = time.time()
    results = metric.fn(opts, count)
    return {"metric": name, "results": results, "num": count, "total_time": time.time() - start}


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
    num: int | None = None,
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
      num: sample count of the metrics whose name does not fix it (default: official).
      batch_size, seed, verbose, classifiers, **options: see `MetricOptions`.

    Returns:
      `{"results": {result_name: value}, "metrics": names, "total_time": seconds,
      "snapshot": snapshot}`, e.g. results `{"fid10k": 12.3, "ls_z": 10.1, "ls_w": 3.8}`.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    metrics = [get_metric(name) for name in names]  # validate all names first
    counts = [metric.resolve_num(num) for metric in metrics]
    from metrics.metric_utils import MetricOptions

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
    for metric, count in zip(metrics, counts):
        results.update(metric.fn(opts, count))
    return {
        "results": results,
        "metrics": names,
        "total_time": time.time() - start,
        "snapshot": snapshot,
    }
