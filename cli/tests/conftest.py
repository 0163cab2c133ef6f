"""The reconciler's pure tests (no Kafka, no database, no Dinero): see cli_factories.py."""
