"""Trust rules: tokens, signed links, webhook signing and URL policy, rate limits.

Standard library only (``hmac``, ``hashlib``, ``secrets``, ``ipaddress``):
all of it exists in Pyodide, so the same code runs on Cloudflare and locally.
"""
