"""Business rules per context: plain Python, no GraphQL and no HTTP."""
