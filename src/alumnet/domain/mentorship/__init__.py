"""Mentorship: mentor offers, requests, mentorships and explainable matching."""
