"""Careers: the job board."""
