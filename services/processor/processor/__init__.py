"""The remote file processor. It knows its own tasks only and imports no other service."""
