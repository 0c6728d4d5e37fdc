"""Live events from one hub node to another: PostgreSQL LISTEN/NOTIFY against NATS subjects."""
