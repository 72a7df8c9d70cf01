"""The matching-quality harness behind bench/eval_matching.py."""
