"""Getting events into Touchline from services: a Python publisher and ``touchline publish``."""
