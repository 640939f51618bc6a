"""Dashboards: saved, annotated lineage canvases."""
