"""Stand-in for QGIS 4's `qgis` package, for the Qt6 smoke test only (see ../README.md)."""
