"""Benchmarks: run against local stubs, never against the real Telegram."""
