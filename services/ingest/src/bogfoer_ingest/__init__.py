"""ingest: takes shop events and Stripe webhooks over HTTP and puts them on Kafka."""
