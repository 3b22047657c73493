"""What every part of the plugin shares: bundled paths, user settings, the class list, the project's
rasters and label layers, background calls. Imports nothing else of the plugin.
"""
