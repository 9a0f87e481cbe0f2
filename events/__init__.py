"""The ground floor every wing imports: the event model (envelope, catalog, validation, upcasting), the internal topics' contracts, record keys, names, and the privacy primitives."""
