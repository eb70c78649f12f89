"""Jobs: the state machine, the shard (Durable Object logic) and its client."""
