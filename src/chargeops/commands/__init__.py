"""Remote control: operator commands to chargers, recorded from request to answer."""
