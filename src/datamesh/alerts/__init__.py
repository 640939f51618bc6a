"""Alerts: rules, the outbox consumer that matches events to them, and delivery."""
