"""Engagement: attendance, meetings, assignments, submissions and points."""
