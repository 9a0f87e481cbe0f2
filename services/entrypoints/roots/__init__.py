"""Composition roots: each process wired from one Settings, in one place."""
