"""Activity feed, follows and the live stream (Server-Sent Events), all read from the outbox."""
