"""Batch rescans: hash what an operator holds (a directory, a manifest) or re-match logged hashes,
with the service's own hashing, matching and recording. ``docs/rescans.md`` has the details."""
