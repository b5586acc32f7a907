"""Cohorts: batches, missions, enrolments and mentor assignments."""
