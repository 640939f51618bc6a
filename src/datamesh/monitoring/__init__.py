"""Pipeline health: run failures, freshness SLAs, status for colouring nodes, overview, coverage."""
