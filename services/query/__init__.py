"""The agents' read side: the agent API and page over the projections (search, profile, timeline, live stream), its tiers of reads and its read audit."""
