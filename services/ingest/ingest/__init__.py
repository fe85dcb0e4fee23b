"""Ingest: stores every WhatsApp message exactly once and publishes what it stored."""
