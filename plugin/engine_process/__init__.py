"""The engine as a separate process: starting it, following a run (QgsTask), its set-up into a
venv, and the controller that owns the dock's runs. Above `jobs`.
"""
