"""stylegan-tf: datasets."""
