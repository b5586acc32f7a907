"""Mentorship's GraphQL types, queries, mutations and subscriptions."""
