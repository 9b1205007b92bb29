"""The reference tiers, one file per operation: a float64 NumPy oracle (`*_numpy`) and a
PyTorch reference in the input's dtype and device (`*_torch`)."""
