"""Networks (segmentation-models-pytorch) and the portable model package."""
