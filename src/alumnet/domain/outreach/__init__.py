"""Outreach: at-risk students, call lists, call logs and follow-ups."""
