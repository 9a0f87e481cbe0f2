"""The touchpoint event model: envelope, catalog of types, validation, codec, upcasting."""
