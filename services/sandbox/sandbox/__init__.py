"""Threadline's sandbox: the providers the notifier talks to, with faults on demand."""
