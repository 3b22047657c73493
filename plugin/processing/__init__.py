"""The "SemiSeg" Processing provider: one algorithm per module."""
