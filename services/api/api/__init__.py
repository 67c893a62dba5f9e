"""Threadline's message API."""
