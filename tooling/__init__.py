"""Tooling apart from the runtime: deploy, vendoring, R2 lifecycle rules, and the workerd dev runtime's toolchain, bundle and dev configs.

The ``tts-pipeline`` command (tts_pipeline/cli.py) exposes these; the local
runtime itself never imports them.
"""
