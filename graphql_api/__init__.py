"""graphql_api: see README.md."""
