"""SEG-Y volumes: geometry, sections and slices loaded as layers, the Open SEG-Y dialog.
Above `maps`.
"""
