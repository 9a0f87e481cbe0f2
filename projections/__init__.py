"""ClickHouse projections: the rows each topic becomes, the projector that writes them, and what agents and analysts read."""
