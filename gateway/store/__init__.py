"""Where shared state lives: memory (one process) or Redis (many replicas)."""
