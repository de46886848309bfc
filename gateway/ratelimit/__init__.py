"""Rate limiting and abuse protection: GCRA per policy, memory or Redis, exact across replicas."""
