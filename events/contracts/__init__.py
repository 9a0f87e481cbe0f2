"""Typed messages of Touchline's internal topics: each one versioned, encoded with orjson, and
described by a JSON Schema under ``schemas/topics/`` that its producers are tested against."""
