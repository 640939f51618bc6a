"""Shared building blocks with no domain knowledge: ids, pagination, schemas, request context."""
