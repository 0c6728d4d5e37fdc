"""Replenishment benchmark of issue 7: restock's policy against subscriptions and thresholds."""
