"""Issue 8: orders after the press (merchant connectors, notifications, returns, Home Assistant)."""
