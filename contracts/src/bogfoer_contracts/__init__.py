"""The shapes that cross Bogfør's Kafka topics. Every service speaks only these."""
