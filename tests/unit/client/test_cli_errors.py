"""The command line names its own options in the API's errors: ``--voice``, not ``voiceId``."""

from __future__ import annotations

import argparse

import pytest

from tts_client.cli import api_error_message, build_parser
from tts_client.errors import ApiError


def test_a_bad_voice_names_the_option_the_user_typed() -> None:
    exc = ApiError(422, "validation_error", "voiceId: model 'tone' has no voice 'klingon'; allowed: default, low, high",
                   field="voiceId")
    message = api_error_message(exc, "submit")
    assert message == "--voice: model 'tone' has no voice 'klingon'; allowed: default, low, high (422 validation_error)"
    assert "voiceId" not in message


def test_camel_case_fields_inside_the_message_become_options_too() -> None:
    exc = ApiError(422, "validation_error", "webhookEvents: needs webhookUrl", field="webhookEvents")
    assert api_error_message(exc, "submit") == "--webhook-event: needs --webhook-url (422 validation_error)"
    model = ApiError(422, "validation_error", "model: unknown model 'x'; available here: tone", field="model")
    assert api_error_message(model, "submit").startswith("--model: unknown model 'x';")  # the word stays a word


def test_other_errors_and_commands_keep_the_apis_words() -> None:
    text = ApiError(422, "text_too_long", "text: 9 characters are over the limit", field="text")
    assert api_error_message(text, "submit") == str(text)
    assert api_error_message(ApiError(404, "not_found", "job not found"), "status") == "404 not_found: job not found"


def test_every_option_named_is_one_submit_has() -> None:
    from tts_client.cli import OPTION_OF_FIELD

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    submit = commands.choices["submit"]
    options = {o for action in submit._actions for o in action.option_strings}
    assert set(OPTION_OF_FIELD.values()) <= options


def test_deliver_options_make_the_deliver_field_and_refuse_bad_headers_before_sending(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tts_client.cli import _deliver, main

    args = build_parser().parse_args(
        ["submit", "--deliver-url", "https://b.example.com/k", "--deliver-header", "x-amz-meta-a: one",
         "--deliver-header", "Content-Type:audio/wav", "hi"]
    )
    assert _deliver(args) == {"url": "https://b.example.com/k",
                              "headers": {"x-amz-meta-a": "one", "Content-Type": "audio/wav"}}
    # Refused here, before any request (nothing listens on port 9): named by the option, the value never echoed.
    code = main(["submit", "--api", "http://127.0.0.1:9", "--deliver-url", "https://b.example.com/k",
                 "--deliver-header", "Host: secret-host.example", "hi"])
    err = capsys.readouterr().err
    assert code != 0 and "--deliver-header: " in err and "'Host' is set by the service" in err
    assert "secret-host" not in err
    assert main(["submit", "--api", "http://127.0.0.1:9", "--deliver-header", "x: y", "hi"]) != 0
    assert "--deliver-header: needs --deliver-url" in capsys.readouterr().err
