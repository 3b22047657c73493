"""The built-in demo: a procedurally generated orthophoto-like scene with scribble labels."""
