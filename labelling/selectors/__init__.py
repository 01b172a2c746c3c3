"""Reads of many rows, shared by services, pages and the API. They only read: a selector
never writes, and never imports a service."""
