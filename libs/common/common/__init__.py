"""Shared foundation of the WhatsApp AI platform's services."""
