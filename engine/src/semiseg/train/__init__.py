"""Training: the Lightning loop around a method, its callbacks, and the job runner."""
