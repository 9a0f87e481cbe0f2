"""Where processes start: the `touchline` command, `up`, and each process composed from one Settings (``roots``)."""
