"""Replenishment benchmark: restock's policy against subscriptions, thresholds and the perfect-foresight bound."""
