"""SEG-Y volumes and lines: their geometry, sections and slices as rasters, predictions written back.

Every reader here is streamed: a volume is read a line (or a slice) at a time through segyio,
never whole, so a survey of any size fits in memory.
"""
