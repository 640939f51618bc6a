"""Lineage: OpenLineage ingestion, the dataset/process graph and its traversal."""
