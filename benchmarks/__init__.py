"""tfglow's benchmarks. Run each from the repository root: `python -m benchmarks.NAME --help`."""
