"""Teach it your own actions: a set folder, a head on the pooled features, `--custom` (docs/teach.md)."""
