"""Audio as bytes: the formats the pipeline knows, WAV and MP3 containers, what a provider returned.

Modules: ``formats`` (MIME type, extension and what can be joined or
measured, per format), ``wav`` and ``mp3`` (reading, building and joining
their containers), ``kinds`` (sniffing what a provider returned, and the
layout of parts to join), ``errors`` (the containers' errors). The bottom of
the audio path: it imports nothing of ``shared`` but ``shared.errors``, so
captions and synthesis both build on it. Standard library only.
"""
