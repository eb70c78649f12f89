"""The local runtime: Cloudflare bindings on plain CPython (SQLite and files)."""
