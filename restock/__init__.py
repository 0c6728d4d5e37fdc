"""The `restock` command tree, assembled above the hub, provisioning and the simulator (none imports it)."""
