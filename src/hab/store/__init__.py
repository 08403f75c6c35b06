"""Stored runs: run directories written as a run goes (`rundir`), found,
saved as baselines and read back validated (`runs`)."""
