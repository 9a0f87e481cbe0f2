"""Identity resolution: who is behind a touchpoint, event-sourced with the eventsourcing library."""
