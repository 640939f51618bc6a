"""The events outbox: every state change writes one row here in its own transaction."""
