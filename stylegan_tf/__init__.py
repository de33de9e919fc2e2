"""stylegan-tf: stylegan_tf."""
