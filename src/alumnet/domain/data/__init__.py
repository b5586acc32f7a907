"""Data in and out: imports with preview, progress and rollback; exports."""
