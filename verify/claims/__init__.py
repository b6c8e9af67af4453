"""Claim families. Every module here is imported by :func:`verify.registry.load_all`;
a module registers its claims at import time with :func:`verify.registry.claim`."""
