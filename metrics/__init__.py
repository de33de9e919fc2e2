"""stylegan-tf: metrics (FID, KID, PPL, linear separability) and their networks.

`compute_metrics(G, dataset, names, ...)` evaluates metrics by name (see `metrics.registry`);
`python -m metrics.run_metrics` is the command line.
"""

from metrics.registry import calc_metric, compute_metrics, get_metric, list_metrics

__all__ = ["calc_metric", "compute_metrics", "get_metric", "list_metrics"]
