"""Integrity: flags, decisions, appeals, access history."""
