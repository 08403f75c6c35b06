"""From stored raw samples to results: per cell and allocator (`run`), with
memory, latency and thread-scaling figures, and two runs compared
(`comparison`). Pure functions of the stored run and the settings."""
