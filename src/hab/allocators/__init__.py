"""Which allocators exist and which run: the built-in registry, the ones
users bring, the preload (LD_PRELOAD) libraries, and a run's lineup."""
