"""The job, end to end: prepare its inputs, train it, export its model, predict its rasters, report.

The layer above `train/` and `predict/`; `jobs/` below is only the job-directory contract
(job.json, paths, events, lock). The CLI and the demo call in here.
"""
