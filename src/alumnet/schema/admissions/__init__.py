"""Admissions: inquiries, the pipeline, follow-up tasks and activities, lead scores,
conversions and the admissions figures."""
