"""Background work: the queue port with its RQ and in-process adapters, and the jobs."""
