"""Load balancing and failover: priority tiers, power of two choices, shared health and eviction."""
