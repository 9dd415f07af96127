"""The controlroom Claude Code plugin (skills, spec template, references), shipped as package data."""
