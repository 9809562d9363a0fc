"""Charging sessions (transactions) and their meter values, from any OCPP version."""
