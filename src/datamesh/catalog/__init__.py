"""The catalog: dataset profiles, visibility, full-text search with filters and facets."""
