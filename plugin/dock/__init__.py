"""The dock widget and its sections, each owning its widgets; the method form built from the
engine's schemas. Above `segy`; only `processing` and the entry point sit higher.
"""
