"""Identity and access: users, roles and permissions, credentials, tokens, audit."""
