"""tfqnn.cli."""
