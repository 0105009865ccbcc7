"""The repository's benchmarks (`make bench`): a tool of this checkout, not part of the library."""
