"""What every process shares: how it reports that it lives (heartbeats), metrics, logging, supervision."""
