"""Workflow configs (TOML with includes), the SimPy executor, workflow definitions and the testbed store."""
