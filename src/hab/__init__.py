"""hermit-alloc-benches: benchmark memory allocators with trustworthy statistics.

The data path, one module per step: suite -> plan -> engine runs (runner)
-> raw samples (store) -> analysis (stats, analysis) -> reports (report).
"""

__version__ = "0.1.0"
