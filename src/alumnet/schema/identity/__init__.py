"""GraphQL for identity and access."""
