"""Talking to other systems: SMTP servers, webhook receivers, SMS gateways. No domain
knowledge here: each module sends one thing and reports exactly how it went."""
