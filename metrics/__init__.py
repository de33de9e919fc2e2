"""stylegan-tf: metrics."""
