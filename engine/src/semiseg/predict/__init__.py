"""Prediction: sliding-window inference, GeoTIFF outputs and QGIS styles."""
