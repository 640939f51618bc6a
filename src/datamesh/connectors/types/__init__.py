"""Built-in connector types, one module each, every one exposing a ``CONNECTOR`` object."""
