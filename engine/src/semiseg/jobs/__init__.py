"""Jobs: the job spec, the job directory and its events."""
