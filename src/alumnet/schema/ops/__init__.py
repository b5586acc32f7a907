"""GraphQL for operations: background jobs."""
