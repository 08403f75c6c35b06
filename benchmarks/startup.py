"""Start-up time of the command line: `hab --help` against the commands
that should be as light (`hab list`, `hab list allocators`, `hab show
--help`). Best of N runs each, and each one's ratio to `hab --help`.

Usage: python benchmarks/startup.py [--runs 7]
"""

import argparse
import subprocess
import sys
import time

COMMANDS = [["--help"], ["list"], ["list", "allocators"], ["list", "workloads"], ["show", "--help"]]


def best(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hab", *args], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    base = best(COMMANDS[0], runs)
    print(f"| command | best of {runs} | vs hab --help |\n|---|---|---|")
    for args in COMMANDS:
        t = base if args == COMMANDS[0] else best(args, runs)
        print(f"| hab {' '.join(args)} | {t * 1000:.0f} ms | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
