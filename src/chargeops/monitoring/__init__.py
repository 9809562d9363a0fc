"""Live health of every station: connectivity, faults, anomalies, uptime per port, and
the log of every OCPP frame. It listens to what stations report (bus events) and keeps
the timelines alerts and reports are built from."""
