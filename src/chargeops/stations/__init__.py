"""Stations: registration, identity, connectors and their status, and what they report."""
