"""The Workers in Cloudflare's own runtime (workerd, through ``wrangler dev``), offline.

- ``toolchain``: the pinned npm tools (Node 24, wrangler, workerd, pyodide) and where they live;
- ``bundle``: workerd's ``dev`` Pyodide bundle, built from npm ``pyodide``;
- ``devconfig``: the generated dev wrangler configs (never the deployed ones);
- ``runner``: ``tts-pipeline dev --runtime workerd``, one ``wrangler dev`` for the three Workers.
"""
