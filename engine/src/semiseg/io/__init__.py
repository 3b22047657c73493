"""Files: atomic writes and raster georeference."""
