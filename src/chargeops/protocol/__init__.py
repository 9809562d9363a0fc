"""OCPP-J, sans-I/O: frames in and out, per-version adapters; no sockets, no database."""
