"""``python -m bench [name ...] [--option ...]``: run benchmarks and print their ratios (results
in bench/results). Options (``--profile DIR``, ...) go to the benches that take them."""

from __future__ import annotations

import importlib
import sys

ALL = ["hot", "search", "connect", "ingest", "stream", "lineage", "columns", "crawl", "alerts"]


def main() -> None:
    names = [a for a in sys.argv[1:] if a in ALL]
    rest = sys.argv[1 + len(names) :]
    if names != sys.argv[1 : 1 + len(names)] or any(not a.startswith("-") for a in rest[:1]):
        raise SystemExit(f"usage: python -m bench [{' | '.join(ALL)} ...] [--option ...]")
    sys.argv[1:] = rest  # what the benches' own argument parsers read
    for name in names or ALL:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
