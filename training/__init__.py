"""stylegan-tf: training."""
