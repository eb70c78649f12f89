"""A small Python client for the TTS pipeline's HTTP API, sync and async.

    from tts_client import Client

    with Client("http://127.0.0.1:8787", token=None) as tts:
        job = tts.wait(tts.submit("Hello there", model="tone").job_id)
        if job.status == "completed":
            tts.download(job, "hello.wav")

The models are the server's own (``shared.models``); the transport is httpx (``httpx.Client`` for
``Client``, ``httpx.AsyncClient`` for ``AsyncClient``), both sending the calls ``tts_client.calls``
builds.
"""

from tts_client.aio import AsyncClient
from tts_client.backoff import Backoff
from tts_client.client import DEFAULT_API_URL, Client
from tts_client.errors import ApiError, ClientError, TransportError, WaitTimeoutError
from tts_client.models import Download, JobList, JobStatus, JobView, ModelInfo, Progress, progress_of

__all__ = [
    "DEFAULT_API_URL",
    "ApiError",
    "AsyncClient",
    "Backoff",
    "Client",
    "ClientError",
    "Download",
    "JobList",
    "JobStatus",
    "JobView",
    "ModelInfo",
    "Progress",
    "TransportError",
    "WaitTimeoutError",
    "progress_of",
]
