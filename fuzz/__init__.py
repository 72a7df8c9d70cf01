"""Fuzz harnesses: untrusted bytes through hashing (``hash_content``) and through the request path
(``scan_request``). Run with ``python -m fuzz <harness>``; docs/fuzzing.md has the details."""
