"""What to run: suites (presets or TOML files, narrowed by options),
parameter values, the plan they expand to, and adaptive rounds."""
