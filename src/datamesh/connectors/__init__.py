"""Connector types (PostgreSQL, HTTP API, warehouses): settings schemas, secrets and testers."""
