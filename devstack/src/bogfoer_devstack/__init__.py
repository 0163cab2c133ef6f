"""Real local infrastructure for tests, the demo and people: Kafka and PostgreSQL, no Docker."""
