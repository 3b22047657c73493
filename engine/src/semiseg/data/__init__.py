"""Data: labels, normalization, window sampling, datasets."""
