"""Responder service: grounded AI answers, per-tenant persona and prompts, handoff, analytics."""
