"""What comes back: prediction layers styled in the project, print layouts, the visible-area
refresh, the exports. Above `engine_process`.
"""
