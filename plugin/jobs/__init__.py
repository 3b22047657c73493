"""The job directory as the plugin sees it: its file names, its events, writing a job, the registry
of jobs started. Above `common`.
"""
