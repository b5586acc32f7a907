"""Outreach: at-risk students, call lists, call logs, follow-ups, the SRE dashboard."""
