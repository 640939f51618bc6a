"""DataMesh: a self-hosted data catalog."""
