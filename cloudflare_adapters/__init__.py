"""Thin adapters from Cloudflare's JS bindings to the ports in ``shared.ports``.

Only this package and the Worker entry modules import ``js`` / ``pyodide``.
Adapters take the raw JS binding (unwrapping the ``workers`` SDK's wrapper
when given one) and convert values explicitly, so every conversion between
Python and JavaScript is in one visible place.
"""
