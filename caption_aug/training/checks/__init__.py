"""Checks that run the config's models with random weights instead of trained ones:
`--mode=dry_run` (joint iterations on random tensors) and `--mode=check_hypergradient` (the
finite-difference hypergradient against the exact one)."""
