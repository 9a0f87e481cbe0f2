"""The faust-streaming application: identity resolution and per-customer state."""
