"""Benchmarks that print figures; not part of the test suite (see bench/README.md)."""
