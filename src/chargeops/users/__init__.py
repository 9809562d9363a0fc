"""Users, API keys and the id tokens (RFID cards, app tokens) that may charge."""
