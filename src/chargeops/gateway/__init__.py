"""The OCPP WebSocket gateway: admits stations, pumps frames, keeps presence."""
