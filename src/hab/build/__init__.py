"""Building the engine binaries: cargo, the generated per-allocator
binaries, and user crates."""
