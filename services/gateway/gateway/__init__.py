"""Webhook gateway: stateless; verifies Meta's signature and publishes one event per item."""
