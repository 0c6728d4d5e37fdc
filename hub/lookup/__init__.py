"""Look-ups of what the hub does not know yet: product names for unknown barcodes (Open Food Facts)."""
