"""Shared kernel: errors, time, units and the version-neutral charging vocabulary."""
