"""Jobs: the durable store, the spool, the workers that digitize, and the outbox that sends."""
