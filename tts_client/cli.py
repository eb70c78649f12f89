"""Client commands of ``tts-pipeline``: submit, wait, status, list, download, delete, models, lexicon.

They talk HTTP to ``--api`` (``TTS_API_URL``, default the local runtime),
with ``--token`` (``TTS_API_TOKEN``) as the bearer token when the server
wants one, so the same commands drive ``tts-pipeline dev`` and a deployed
api Worker.

Exit codes:

- 0: done (for ``--wait``, ``wait`` and ``download``: the job completed)
- 1: the job failed or was canceled
- 2: usage error, or the API answered an error, or could not be reached
- 3: timed out waiting for the job
- 130: interrupted (Ctrl-C); the job itself goes on
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from shared.models import WebhookEvent
from tts_client.client import DEFAULT_API_URL, DEFAULT_WAIT_TIMEOUT, Client, caption_format
from tts_client.errors import ApiError, ClientError, WaitTimeoutError
from tts_client.models import JobView, progress_of
from tts_client.progress import ProgressReporter

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_ERROR = 2
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

COMMANDS = ("submit", "wait", "status", "list", "download", "delete", "models", "lexicon")
WEBHOOK_EVENTS = tuple(e.value for e in WebhookEvent)


class UsageError(Exception):
    """Raised when the command line asks for something impossible (exit 2)."""


# --- parser -----------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--api", metavar="URL", help=f"API base URL (env TTS_API_URL; default {DEFAULT_API_URL})")
    group.add_argument("--token", help="bearer token (env TTS_API_TOKEN)")
    group.add_argument("--json", action="store_true", help="print the API's JSON on stdout, for scripts")
    return common


def _wait_options(parser: argparse.ArgumentParser, *, with_flag: bool) -> None:
    if with_flag:
        parser.add_argument("--wait", action="store_true", help="wait for the job, showing its progress")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="save the audio to FILE once completed ('-' for stdout)" + ("; implies --wait" if with_flag else ""))
    _captions_option(parser, submitting=with_flag)
    parser.add_argument("--timeout", type=float, default=DEFAULT_WAIT_TIMEOUT, metavar="SECONDS",
                        help=f"give up waiting after SECONDS (exit 3; default {DEFAULT_WAIT_TIMEOUT:g})")


def _captions_option(parser: argparse.ArgumentParser, *, submitting: bool) -> None:
    parser.add_argument(
        "--captions", metavar="FILE", type=_captions_file,
        help="save the word-timed captions to FILE once completed, in the format its extension names:"
        " .vtt (WebVTT), .srt (SRT) or .json (word timings)"
        + ("; asks for timestamps and implies --wait" if submitting else "; the job must have been submitted with them"),
    )


def _captions_file(value: str) -> str:
    try:
        caption_format(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def add_client_commands(sub: Any) -> None:
    """Register the client commands on a ``add_subparsers()`` object."""
    common = [_common()]
    epilog = "exit codes: 0 done, 1 job failed or canceled, 2 usage or API error, 3 timed out, 130 interrupted"
    formatter = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("submit", parents=common, epilog=epilog, formatter_class=formatter,
                       help="submit text to speak (from an argument, -f FILE or stdin)")
    p.add_argument("text", nargs="?", help="the text; '-' or nothing reads standard input")
    p.add_argument("-f", "--file", metavar="FILE", help="read the text from FILE ('-' for stdin)")
    p.add_argument("-m", "--model", help="model id (default: the server's; see 'tts-pipeline models')")
    p.add_argument("-v", "--voice", action="append", metavar="VOICE",
                   help="voice of the model (default: the model's); with --input-file, repeat it: input N gets"
                   " the Nth voice, the list repeating (two voices alternate: a dialogue)")
    p.add_argument("--input-file", metavar="FILE",
                   help="several inputs joined into one file with a chapter each: JSON Lines ({\"text\","
                   " \"voiceId\", \"title\"} per line; a .jsonl file or one starting with '{'), else one input per"
                   " paragraph (blank-line separated); '-' reads standard input")
    p.add_argument("--gap-ms", type=int, metavar="MS", help="silence between two inputs (0 to 10000 ms)")
    p.add_argument("--format", help="audio format, e.g. wav or mp3 (default: the model's)")
    p.add_argument("--sample-rate", type=int, metavar="HZ", help="sample rate in Hz (default: the model's)")
    p.add_argument("--speed", type=float, help="speaking rate, 1.0 normal (models with a speed range)")
    p.add_argument("--instructions", metavar="TEXT", help="how to speak: tone, pace, accent (models that take it)")
    p.add_argument("--ttl", type=int, metavar="SECONDS", help="how long the job and its audio are kept")
    p.add_argument("--cancel-after", type=int, metavar="SECONDS",
                   help="cancel the job if no worker has started it this many seconds after submission")
    p.add_argument("--idempotency-key", metavar="KEY",
                   help="submitting again with the same key and text returns the first job instead of a new one")
    p.add_argument("--webhook-url", metavar="URL", help="https URL the server POSTs to when the job finishes")
    p.add_argument("--webhook-event", action="append", choices=WEBHOOK_EVENTS, metavar="EVENT", dest="webhook_events",
                   help=f"announce only this final state (repeatable; one of {', '.join(WEBHOOK_EVENTS)}; default all)")
    p.add_argument("--deliver-url", metavar="URL",
                   help="a presigned PUT URL (S3, R2, GCS, Azure SAS): the server PUTs the finished audio there,"
                   " retrying with backoff ('status' shows how the delivery went); kept secret, never shown")
    p.add_argument("--deliver-header", action="append", metavar="NAME:VALUE", dest="deliver_headers",
                   help="a header to send with that PUT, such as one the URL's signature covers (repeatable)")
    p.add_argument("--no-cache", action="store_const", const=False, dest="cache",
                   help="synthesize again even if the same text, voice and settings were spoken before"
                   " (by default the server reuses that audio: no provider call, and the job is done at once)")
    p.add_argument("--timestamps", action="store_const", const="word",
                   help="also make word timings and captions (implied by --captions)")
    p.add_argument("--ssml", action="store_true",
                   help="the text is SSML (<speak>, <break>, <sub>, <say-as>, <phoneme>, <p>, <s>...)")
    p.add_argument("--lexicon", action="append", metavar="NAME", dest="lexicons",
                   help="apply your lexicon NAME (repeatable, in order: the first matching rule wins;"
                   " 'tts-pipeline lexicon put' uploads one)")
    _wait_options(p, with_flag=True)
    p.set_defaults(func=_submit)

    p = sub.add_parser("wait", parents=common, epilog=epilog, formatter_class=formatter,
                       help="wait for a job, showing its progress; optionally save its audio")
    p.add_argument("job_id", metavar="JOB_ID")
    _wait_options(p, with_flag=False)
    p.set_defaults(func=_wait)

    p = sub.add_parser("status", parents=common, epilog=epilog, formatter_class=formatter, help="show a job")
    p.add_argument("job_id", metavar="JOB_ID")
    p.set_defaults(func=_status)

    p = sub.add_parser("list", parents=common, epilog=epilog, formatter_class=formatter,
                       help="list your jobs, newest first")
    p.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    p.add_argument("--all", action="store_true", help="every job, page after page")
    p.set_defaults(func=_list)

    p = sub.add_parser("download", parents=common, epilog=epilog, formatter_class=formatter,
                       help="save a completed job's audio")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("-o", "--output", metavar="FILE", help="where to ('-' for stdout; default JOB_ID.FORMAT)")
    p.add_argument("--input", type=int, metavar="N", dest="input_index",
                   help="only input N (from 0) of a job submitted with inputs, as a file of its own")
    _captions_option(p, submitting=False)
    p.set_defaults(func=_download)

    p = sub.add_parser("delete", parents=common, epilog=epilog, formatter_class=formatter,
                       help="cancel jobs and delete their audio")
    p.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    p.set_defaults(func=_delete)

    p = sub.add_parser("models", parents=common, epilog=epilog, formatter_class=formatter,
                       help="list the models, voices and formats")
    p.set_defaults(func=_models)

    p = sub.add_parser("lexicon", epilog=epilog, formatter_class=formatter,
                       help="your pronunciation lexicons: put, list, get, delete")
    lexicon = p.add_subparsers(dest="lexicon_command", required=True, metavar="{put,list,get,delete}")
    q = lexicon.add_parser("put", parents=common, epilog=epilog, formatter_class=formatter,
                           help="upload or replace a lexicon from a W3C PLS file (.pls, .xml) or JSON rules (.json)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("file", metavar="FILE", help="the lexicon ('-' reads standard input)")
    q.add_argument("--type", choices=("pls", "json"), dest="lexicon_type",
                   help="the file's format (default: from its extension, else from its first character)")
    q.set_defaults(func=_lexicon_put)
    q = lexicon.add_parser("list", parents=common, epilog=epilog, formatter_class=formatter, help="list your lexicons")
    q.set_defaults(func=_lexicon_list)
    q = lexicon.add_parser("get", parents=common, epilog=epilog, formatter_class=formatter,
                           help="show a lexicon's rules (--pls: the PLS document as uploaded)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--pls", action="store_true", help="print the PLS document as uploaded")
    q.set_defaults(func=_lexicon_get)
    q = lexicon.add_parser("delete", parents=common, epilog=epilog, formatter_class=formatter,
                           help="delete lexicons (jobs already submitted keep the version they read)")
    q.add_argument("names", nargs="+", metavar="NAME")
    q.set_defaults(func=_lexicon_delete)


def build_parser() -> argparse.ArgumentParser:
    """The client commands alone (``python -m tts_client``)."""
    parser = argparse.ArgumentParser(prog="tts-client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version_option(parser)
    add_client_commands(parser.add_subparsers(dest="command", required=True))
    return clean_help(parser)


def version() -> str:
    """The installed ``tts-pipeline`` distribution's version (``unknown`` in a bare checkout)."""
    try:
        return importlib.metadata.version("tts-pipeline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def add_version_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")


_RST_LITERAL = re.compile(r"``([^`]+)``")


def _plain(text: str | None) -> str | None:
    """Docstrings are RST (````x````); help is read in a terminal: ``'x'`` there."""
    return _RST_LITERAL.sub(r"'\1'", text) if text else text


def clean_help(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Strip RST markup from the help texts of ``parser`` and every subcommand under it, in place."""
    seen: set[int] = set()
    todo = [parser]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.description = _plain(current.description)
        current.epilog = _plain(current.epilog)
        for action in current._actions:  # argparse has no public walk of its tree
            if isinstance(action.help, str):
                action.help = _plain(action.help)
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    choice.help = _plain(choice.help)
                todo.extend(action.choices.values())
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


# --- plumbing -----------------------------------------------------------------


def make_client(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Client:
    env = os.environ if env is None else env
    api = args.api or env.get("TTS_API_URL") or DEFAULT_API_URL
    token = args.token or env.get("TTS_API_TOKEN") or None
    try:
        return Client(api, token)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


# The API's field -> the submit option that sets it, so an error names what the user typed.
OPTION_OF_FIELD = {
    "model": "--model", "voiceId": "--voice", "format": "--format", "sampleRate": "--sample-rate",
    "speed": "--speed", "instructions": "--instructions", "ttlSeconds": "--ttl",
    "cancelAfterSeconds": "--cancel-after", "webhookUrl": "--webhook-url", "webhookEvents": "--webhook-event",
    "timestamps": "--timestamps", "Idempotency-Key": "--idempotency-key", "inputs": "--input-file",
    "gapMs": "--gap-ms",
    "deliver.url": "--deliver-url", "deliver.headers": "--deliver-header", "deliver": "--deliver-url",
}


def validation_message(exc: ValidationError) -> str:
    """A request refused before sending, named as the user typed it; never the value (it may be a secret)."""
    first = exc.errors()[0]
    field = ".".join(to_camel(str(part)) for part in first.get("loc", ()))
    return f"{OPTION_OF_FIELD.get(field, field)}: {first.get('msg')}"


def api_error_message(exc: ApiError, command: str) -> str:
    """The API's error as the command line says it: ``--voice: ...`` where the API says ``voiceId: ...``."""
    if command != "submit" or exc.field not in OPTION_OF_FIELD:
        return str(exc)
    message = exc.message
    if message.startswith(f"{exc.field}: "):
        message = f"{OPTION_OF_FIELD[exc.field]}: {message[len(exc.field) + 2:]}"
    for field, option in OPTION_OF_FIELD.items():  # camelCase names are never plain words
        if field != field.lower():
            message = re.sub(rf"(?<![\w-]){re.escape(field)}(?![\w-])", option, message)
    return f"{message} ({exc.status} {exc.code})"


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the client's errors into messages and exit codes."""

    def handler(args: argparse.Namespace) -> int:
        prog = f"tts-pipeline {args.command}"
        try:
            return run(args)
        except UsageError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except ApiError as exc:
            hint = ""
            if exc.status == 401:
                hint = " (pass --token or set TTS_API_TOKEN)"
            print(f"{prog}: {api_error_message(exc, args.command)}{hint}", file=sys.stderr)
            return EXIT_ERROR
        except ClientError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except ValidationError as exc:  # the request, checked here before it is sent
            print(f"{prog}: {validation_message(exc)}", file=sys.stderr)
            return EXIT_ERROR
        except OSError as exc:  # writing the output file
            print(f"{prog}: {exc}", file=sys.stderr)
            return EXIT_ERROR

    return handler


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _read_text(args: argparse.Namespace) -> str:
    if args.file is not None and args.text is not None:
        raise UsageError("give the text as an argument or with -f, not both")
    source = args.file if args.file is not None else args.text
    if source is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("no text: pass it as an argument, with -f FILE, or on standard input")
        source = "-"
    text: str
    try:
        if args.file is None and source != "-":
            text = str(source)
        elif source == "-":
            text = sys.stdin.buffer.read().decode("utf-8") if sys.stdin is not None else ""
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"the text is not UTF-8: {exc}") from exc
    text = text.rstrip("\r\n")
    if not text.strip():
        raise UsageError("the text is empty")
    return text


def _check_outputs(args: argparse.Namespace) -> None:
    if getattr(args, "output", None) == "-" and args.json:
        raise UsageError("--json and '-o -' both want standard output; pick one")


def _default_filename(job: JobView, input_index: int | None = None) -> str:
    ext = re.sub(r"[^a-z0-9]", "", job.format.lower()) or "audio"
    return f"{job.job_id}-input{input_index}.{ext}" if input_index is not None else f"{job.job_id}.{ext}"


def _save(client: Client, job: JobView, output: str, input_index: int | None = None) -> None:
    if output == "-":
        client.download(job, sys.stdout.buffer, input=input_index)
        sys.stdout.buffer.flush()
        return
    info = client.download(job, output, input=input_index)
    print(f"saved {info.size_bytes:,} bytes of {info.content_type or 'audio'} to {output}", file=sys.stderr)


def _save_captions(client: Client, job: JobView, path: str) -> None:
    fmt = client.save_captions(job, path)
    print(f"saved {fmt} captions to {path}", file=sys.stderr)


def _outcome(job: JobView) -> int:
    if job.status.value == "completed":
        return EXIT_OK
    print(f"job {job.job_id} {job.status.value}" + (f": {job.error}" if job.error else ""), file=sys.stderr)
    return EXIT_JOB_FAILED


def _wait_and_save(client: Client, job_id: str, args: argparse.Namespace) -> int:
    """Wait with a progress display, then save the audio if asked. Returns the exit code."""
    reporter = ProgressReporter(sys.stderr, live=sys.stderr.isatty() and os.environ.get("TERM") != "dumb")
    try:
        try:
            # The job's event stream where the server has it (one connection), else long-polls.
            done = client.wait(
                job_id, timeout=args.timeout, on_update=reporter.update, sleep=reporter.sleep, events=True
            )
        finally:
            reporter.close()
    except WaitTimeoutError as exc:
        print(f"tts-pipeline: {exc}; keep waiting with `tts-pipeline wait {job_id}`", file=sys.stderr)
        if args.json and exc.job is not None:
            _print_json(exc.job.to_json_dict())
        return EXIT_TIMEOUT
    except KeyboardInterrupt:
        print(f"\ninterrupted; the job goes on: `tts-pipeline wait {job_id}`", file=sys.stderr)
        return EXIT_INTERRUPTED
    code = _outcome(done)
    if code == EXIT_OK and args.output:
        _save(client, done, args.output)
    if code == EXIT_OK and args.captions:
        _save_captions(client, done, args.captions)
    if args.json:
        _print_json(done.to_json_dict())
    return code


# --- commands -------------------------------------------------------------------


def read_inputs(source: str, voices: list[str] | None) -> list[dict[str, Any]]:
    """The inputs of ``--input-file``: JSON Lines, or one input per paragraph; ``voices`` given in turn to the
    inputs that name none."""
    try:
        if source == "-":
            raw = sys.stdin.buffer.read().decode("utf-8") if sys.stdin is not None else ""
        else:
            with open(source, encoding="utf-8") as handle:
                raw = handle.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"the input file is not UTF-8: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot read the input file: {exc}") from exc
    inputs: list[dict[str, Any]] = []
    if source.lower().endswith(".jsonl") or raw.lstrip().startswith("{"):
        for number, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise UsageError(f"input file line {number} is not JSON: {exc}") from exc
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise UsageError(f'input file line {number}: each line is an object with a "text" string')
            voice = item.pop("voice", None)  # "voice" taken for "voiceId"
            if voice is not None and "voiceId" not in item:
                item["voiceId"] = voice
            inputs.append(item)
    else:
        inputs = [{"text": p.strip()} for p in re.split(r"\n[ \t]*\n", raw) if p.strip()]
    if not inputs:
        raise UsageError("the input file has no inputs")
    for index, item in enumerate(inputs):
        if voices and "voiceId" not in item:
            item["voiceId"] = voices[index % len(voices)]
    return inputs


def _deliver(args: argparse.Namespace) -> dict[str, object] | None:
    """``deliver`` of the request from ``--deliver-url`` and ``--deliver-header NAME:VALUE``."""
    if args.deliver_url is None:
        if args.deliver_headers:
            raise UsageError("--deliver-header: needs --deliver-url")
        return None
    headers: dict[str, str] = {}
    for item in args.deliver_headers or ():
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--deliver-header: {item.split(':')[0][:100]!r} is not NAME:VALUE")
        headers[name.strip()] = value.strip()
    return {"url": args.deliver_url, "headers": headers or None}


@_guarded
def _submit(args: argparse.Namespace) -> int:
    _check_outputs(args)
    voices = args.voice or []
    if args.input_file is not None:
        if args.text is not None or args.file is not None:
            raise UsageError("give the text, -f FILE or --input-file, one of them")
        text, inputs, voice = None, read_inputs(args.input_file, voices), None
    else:
        if len(voices) > 1:
            raise UsageError("one --voice for a text (several go with --input-file: one per input, in turn)")
        if args.gap_ms is not None:
            raise UsageError("--gap-ms is the silence between inputs: it goes with --input-file")
        text, inputs, voice = _read_text(args), None, (voices[0] if voices else None)
    client = make_client(args)
    job = client.submit(
        text, inputs=inputs, gap_ms=args.gap_ms,
        model=args.model, voice=voice, format=args.format, ttl_seconds=args.ttl,
        idempotency_key=args.idempotency_key, sample_rate=args.sample_rate, speed=args.speed,
        instructions=args.instructions, cancel_after_seconds=args.cancel_after,
        webhook_url=args.webhook_url, webhook_events=args.webhook_events,
        deliver=_deliver(args), cache=args.cache,
        timestamps="word" if (args.timestamps or args.captions) else None,
        text_type="ssml" if args.ssml else None, lexicons=args.lexicons,
    )
    if not (args.wait or args.output or args.captions):
        if args.json:
            _print_json(job.to_json_dict())
        else:
            print(job.job_id)
        return EXIT_OK
    if not args.json and args.output != "-":
        print(job.job_id, flush=True)
    return _wait_and_save(client, job.job_id, args)


@_guarded
def _wait(args: argparse.Namespace) -> int:
    _check_outputs(args)
    return _wait_and_save(make_client(args), args.job_id, args)


def _delivery(job: JobView) -> str | None:
    delivery = job.delivery
    if delivery is None:
        return None
    tries = f", {delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}" if delivery.attempts else ""
    error = f" (last error: {delivery.last_error})" if delivery.last_error else ""
    return f"{delivery.state}{tries}{error}"


@_guarded
def _status(args: argparse.Namespace) -> int:
    job = make_client(args).get(args.job_id)
    if args.json:
        _print_json(job.to_json_dict())
        return EXIT_OK
    progress = progress_of(job)
    rows: list[tuple[str, str | None]] = [
        ("job", job.job_id),
        ("status", job.status.value + (f" ({progress.done}/{progress.total} chunks)" if progress else "")),
        ("model", f"{job.model}, voice {job.voice_id or 'default'}, {job.format}"),
        ("characters", str(job.characters) if job.characters else None),
        ("attempts", str(job.attempts)),
        ("created", _when(job.created_at)),
        ("started", _when(job.started_at)),
        ("completed", _when(job.completed_at)),
        ("expires", _when(job.expires_at)),
        ("audio", f"{job.mime_type}, {job.size_bytes:,} bytes" if job.size_bytes is not None else None),
        ("captions", job.captions_url or ("word timings, once completed" if job.timestamps else None)),
        ("delivery", _delivery(job)),
        ("error", job.error),
    ]
    for name, value in rows:
        if value:
            print(f"{name:<11} {value}")
    return EXIT_OK


def _when(moment: Any) -> str | None:
    if moment is None:
        return None
    return str(moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"))


@_guarded
def _list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100:
        raise UsageError("--limit must be between 1 and 100")
    client = make_client(args)
    if args.all:
        jobs = list(client.iter_jobs(page_size=100))
        next_cursor = None
    else:
        page = client.list_jobs(limit=args.limit)
        jobs, next_cursor = page.jobs, page.next_cursor
    if args.json:
        data: dict[str, Any] = {"jobs": [j.to_json_dict() for j in jobs]}
        if next_cursor:
            data["nextCursor"] = next_cursor
        _print_json(data)
        return EXIT_OK
    if not jobs:
        print("no jobs", file=sys.stderr)
        return EXIT_OK
    header = ("JOB ID", "STATUS", "MODEL", "VOICE", "FORMAT", "CHARS", "CREATED")
    rows = [
        (j.job_id, j.status.value, j.model, j.voice_id or "-", j.format, str(j.characters),
         j.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"))
        for j in jobs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if next_cursor:
        print("(more: --limit up to 100, or --all)", file=sys.stderr)
    return EXIT_OK


@_guarded
def _download(args: argparse.Namespace) -> int:
    _check_outputs(args)
    client = make_client(args)
    job = client.get(args.job_id)
    if job.status.is_terminal and job.status.value != "completed":
        return _outcome(job)
    if job.status.value != "completed":
        raise UsageError(f"job {job.job_id} is {job.status.value}; `tts-pipeline wait {job.job_id} -o FILE` waits for it")
    if args.output or not args.captions:
        _save(client, job, args.output or _default_filename(job, args.input_index), args.input_index)
    if args.captions:
        _save_captions(client, job, args.captions)
    if args.json:
        _print_json(job.to_json_dict())
    return EXIT_OK


@_guarded
def _delete(args: argparse.Namespace) -> int:
    client = make_client(args)
    for job_id in args.job_ids:
        client.delete(job_id)
        if args.json:
            print(json.dumps({"jobId": job_id, "deleted": True}))
        else:
            print(f"deleted {job_id}", file=sys.stderr)
    return EXIT_OK


@_guarded
def _models(args: argparse.Namespace) -> int:
    models = make_client(args).models()
    if args.json:
        _print_json({"models": [m.model_dump(mode="json", by_alias=True) for m in models]})
        return EXIT_OK
    for m in models:
        marker = "  [default]" if m.default else ""
        print(f"{m.id}{marker}  ({m.provider})")
        if m.description:
            print(f"    {m.description}")
        print(f"    voices:  {_with_default(m.voices, m.default_voice)}")
        print(f"    formats: {_with_default(m.formats, m.default_format)}")
        if m.sample_rates:
            print(f"    rates:   {_with_default([str(r) for r in m.sample_rates], str(m.default_sample_rate))} Hz")
        if m.max_job_chars:
            print(f"    text:    up to {m.max_job_chars:,} characters a job (in {m.default_format})")
        options = [f"speed {m.speed_range[0]:g}-{m.speed_range[1]:g}" if m.speed_range else "",
                   "instructions" if m.supports_instructions else ""]
        if any(options):
            print(f"    takes:   {', '.join(o for o in options if o)}")
        if m.timestamps != "none":
            formats = f" ({', '.join(m.timestamps_formats)})" if m.timestamps_formats != m.formats else ""
            print(f"    timings: {m.timestamps}{formats}: {m.timestamps_method}")
    if any(m.default for m in models):
        print("[default]: what a job without --model gets; (*): a model's default", file=sys.stderr)
    return EXIT_OK


def _with_default(values: list[str], default: str | None) -> str:
    """``a, b*, c``: the default marked, not spelled out ("(default default)" read badly)."""
    return ", ".join(f"{v}*" if v == default else v for v in values)


# --- lexicons --------------------------------------------------------------------------


@_guarded
def _lexicon_put(args: argparse.Namespace) -> int:
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from exc
    kind = args.lexicon_type
    if kind is None and args.file != "-":
        suffix = os.path.splitext(args.file)[1].lower()
        kind = "json" if suffix == ".json" else "pls" if suffix in (".pls", ".xml") else None
    if kind is None:
        kind = "json" if data.lstrip()[:1] == b"{" else "pls"
    content_type = "application/json" if kind == "json" else "application/pls+xml"
    view = make_client(args).put_lexicon(args.name, data, content_type=content_type)
    if args.json:
        _print_json(view.to_json_dict())
    else:
        print(f"lexicon {view.name}: {view.rule_count} rules, version {view.version}", file=sys.stderr)
    return EXIT_OK


@_guarded
def _lexicon_list(args: argparse.Namespace) -> int:
    lexicons = make_client(args).lexicons()
    if args.json:
        _print_json({"lexicons": [x.to_json_dict() for x in lexicons]})
        return EXIT_OK
    if not lexicons:
        print("no lexicons", file=sys.stderr)
        return EXIT_OK
    header = ("NAME", "RULES", "FORMAT", "LANGUAGE", "VERSION", "UPDATED")
    rows = [
        (x.name, str(x.rule_count), x.format, x.language or "-", x.version,
         x.updated_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"))
        for x in lexicons
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return EXIT_OK


@_guarded
def _lexicon_get(args: argparse.Namespace) -> int:
    client = make_client(args)
    if args.pls:
        sys.stdout.write(client.get_lexicon_pls(args.name))
        return EXIT_OK
    document = client.get_lexicon(args.name)
    if args.json:
        _print_json(document.to_json_dict())
        return EXIT_OK
    print(f"lexicon {document.name}: {document.rule_count} rules, {document.format}, version {document.version}")
    for rule in document.rules:
        said = rule.alias if rule.alias is not None else ""
        if rule.phoneme is not None:
            said += (" " if said else "") + f"/{rule.phoneme}/ ({rule.alphabet or 'ipa'})"
        print(f"  {rule.grapheme} -> {said}")
    return EXIT_OK


@_guarded
def _lexicon_delete(args: argparse.Namespace) -> int:
    client = make_client(args)
    for name in args.names:
        client.delete_lexicon(name)
        print(f"deleted lexicon {name}", file=sys.stderr)
    return EXIT_OK
