"""Engagement: attendance, meetings, assignments, submissions, points and progress."""
