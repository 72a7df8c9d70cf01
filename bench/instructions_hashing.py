"""Instruction counts of fast hashing, for callgrind: a figure the machine's load cannot move.

Hashes the load benchmark's corpus (``bench_load.corpus``) once to warm up, then ``PASSES`` more
times. Run it under callgrind with 0 and with N passes; the difference of the two totals divided
by N x images is the cost of one scan's hashing, start-up and imports cancelled out:

    valgrind --tool=callgrind --callgrind-out-file=cg.0 .venv/bin/python bench/instructions_hashing.py 1 0
    valgrind --tool=callgrind --callgrind-out-file=cg.3 .venv/bin/python bench/instructions_hashing.py 1 3

(each prints the image count; ``callgrind_annotate`` on the two files splits the cost by function).
"""

from __future__ import annotations

import argparse

from bench_load import corpus

from scanner.pipeline import hash_content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("megapixels", type=float, help="image size, as bench_load's --sizes")
    parser.add_argument("passes", type=int, help="passes over the corpus after the warm-up pass")
    args = parser.parse_args()
    contents = corpus([args.megapixels])[args.megapixels]
    for content in contents:
        hash_content(content)
    for _ in range(args.passes):
        for content in contents:
            hash_content(content)
    print(f"{len(contents)} images, {args.passes} passes")


if __name__ == "__main__":
    main()
