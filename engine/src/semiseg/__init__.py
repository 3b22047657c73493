"""SemiSeg engine: semi-supervised segmentation of rasters from sparse labels."""

__version__ = "0.7.0"
