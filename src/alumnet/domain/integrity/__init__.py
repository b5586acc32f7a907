"""Integrity: flags, decisions (warn, ban, delist), appeals, access history."""
