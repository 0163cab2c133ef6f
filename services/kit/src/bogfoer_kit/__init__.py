"""What every Bogfør service wires the same way (settings, Kafka, health, telemetry, DLQ)."""
