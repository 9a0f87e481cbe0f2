"""Realistic omnichannel traffic, deterministic for a seed: for demos, tests and benchmarks."""
