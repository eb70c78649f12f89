"""Tooling apart from the runtime: deploy, vendoring, R2 lifecycle rules, and the workerd dev runtime's toolchain, bundle and dev configs.

The ``tts-pipeline`` command (local_runtime/cli.py) exposes these; the local
runtime itself never imports them.
"""
