"""Code shared by the indexer, the GraphQL API, the trainer and the tests."""
