"""Headless logs: options, JSON lines and CSV writers, and reading them back (plot, summary)."""
