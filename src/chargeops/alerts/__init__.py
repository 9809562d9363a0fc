"""Rules that turn what monitoring and sessions observe into incidents, and make sure a
person hears of each one: notifications on their channels, escalation until someone
acknowledges."""
