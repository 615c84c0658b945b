"""Attempt counters and rate limits shared by all processes."""
