"""tfqnn.compress."""


def __getattr__(name: str):
    """Lazy re-exports (importing a family's compressor pulls in its models)."""
    if name == "remove_discarded_blocks":  # ε-ResNet block removal
        from tfqnn.compress.epsresnet import remove_discarded_blocks

        return remove_discarded_blocks
    if name == "compound_scaling_grid":  # EC2T / MicroNet compound scaling
        from tfqnn.compress.compound_scaling import compound_scaling_grid

        return compound_scaling_grid
    if name == "allocate_bits":  # HAWQ-V3 Hessian + ILP bit allocation
        from tfqnn.compress.bit_allocation import allocate_bits

        return allocate_bits
    raise AttributeError(f"module 'tfqnn.compress' has no attribute {name!r}")
