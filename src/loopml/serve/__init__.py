"""Deployment: batch scoring (and, later, the REST server and exports)."""
