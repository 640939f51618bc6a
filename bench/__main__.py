"""``python -m bench [name ...]``: run benchmarks and print their ratios (results in bench/results)."""

from __future__ import annotations

import importlib
import sys

ALL = ["hot", "search", "connect", "ingest", "stream", "lineage", "columns", "crawl", "alerts"]


def main() -> None:
    names = sys.argv[1:] or ALL
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
