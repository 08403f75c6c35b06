"""Statistics on raw samples: criterion's estimates with seeded bootstrap
confidence intervals, Tukey outliers, and ratios between allocators."""
