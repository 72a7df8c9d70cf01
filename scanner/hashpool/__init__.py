"""Hashing in worker processes: all cores, and a decoder's crash costs one request, not the service.

``HashPool`` (pool.py) keeps N worker processes (worker.py) that only turn bytes into a
``HashOutcome``; the main process keeps gRPC, matching and recording. Requests and answers
cross the pipe in a small explicit format (wire.py), never as pickles.
"""
