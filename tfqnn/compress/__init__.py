"""tfqnn.compress."""
