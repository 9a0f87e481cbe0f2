"""What every process builds on: settings, heartbeats, metrics, worker slots, supervision, offline API docs."""
