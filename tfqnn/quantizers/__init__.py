"""tfqnn.quantizers."""
