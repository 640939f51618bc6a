"""Lineage: OpenLineage parsing, hop-depth traversal and the Bolt graph engine."""
