"""Supervision of child processes: the one way this project starts, stops and reaps a child
(:mod:`agents.supervision.child_process`)."""
