"""The log scrubber: every logger (Reflex's, uvicorn's, granian's, httpx's, ours), both formats,
tracebacks, and text written to stdout/stderr around logging lose their credentials."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from medianest import log

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXAiOiJzZXNzaW9uIiwic3ViIjoiYWJjIn0."
       "2e0ezNpG1zPxPKqd74j58NcgpH3TEhg7CBUc8uxLXP4")
PIN = "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJwaW4iLCJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXBpbg"
OVERSEERR_KEY = "MTczNTY4OTYwMDAwMGMzYjZlZmQtNGQ3ZC00ZmFk"
PLEX_TOKEN = "sim-alice-token-xyz1"
SECRETS = (JWT, PIN, OVERSEERR_KEY, PLEX_TOKEN)
LOGGERS = ("reflex_base.event.processor.event_processor", "reflex.app", "uvicorn.error", "uvicorn.access",
           "_granian", "granian.access", "httpx", "taskiq.receiver", "medianest.api")


@pytest.fixture
def scrubbing():
    """The scrubber installed for one test, and the process put back afterwards."""
    factory, streams = logging.getLogRecordFactory(), (sys.stdout, sys.stderr)
    log.install_scrubbing([OVERSEERR_KEY])
    yield
    logging.setLogRecordFactory(factory)
    sys.stdout, sys.stderr = streams


def _event_repr() -> str:
    # What Reflex 0.10 logs for an event it cannot route (shape copied from a real log line).
    return (f"Event(name='state.session_state.stale', router_data={{'headers': {{'cookie': "
            f"'mn_session={JWT}; mn_pin={PIN}', 'authorization': 'Bearer {JWT}', 'x-plex-token': '{PLEX_TOKEN}', "
            f"'x-api-key': '{OVERSEERR_KEY}'}}}}, payload={{'api_key': '{OVERSEERR_KEY}'}})")


def test_every_logger_in_both_formats_with_tracebacks_is_scrubbed(scrubbing):
    text, lines = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(lines)]
    handlers[0].setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handlers[1].setFormatter(log.JsonFormatter())
    try:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            # Whatever other tests or libraries did to this logger, its records reach these handlers.
            logger.handlers, logger.propagate, logger.disabled = list(handlers), False, False
            logger.setLevel(logging.DEBUG)
            logger.warning("Error processing event queue entry for %s", _event_repr())
            logger.info("HTTP Request: GET http://plex:32400/library/sections?X-Plex-Token=%s \"HTTP/1.1 503\"",
                        PLEX_TOKEN)
            try:
                raise RuntimeError(f"upstream refused X-Api-Key {OVERSEERR_KEY} for cookie mn_pin={PIN}")
            except RuntimeError:
                logger.exception("failed upstream call")
    finally:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = [], True
            logger.setLevel(logging.NOTSET)
    output = text.getvalue() + lines.getvalue()
    assert output.count("failed upstream call") == 2 * len(LOGGERS)
    assert "RuntimeError: upstream refused" in output and "[redacted]" in output
    for secret in SECRETS:
        assert secret not in output
    for line in lines.getvalue().splitlines():
        assert json.loads(line)["level"] in {"warning", "info", "error"}


def test_reflex_console_sink_is_scrubbed(scrubbing, capsys):
    from reflex_base.utils.log import RichConsoleHandler

    log.install_scrubbing()  # wrap pytest's captured streams too
    logger = logging.getLogger("reflex.test_scrub")
    logger.addHandler(RichConsoleHandler())
    logger.propagate = False
    try:
        try:
            raise KeyError(f"No registered handler found for event: {_event_repr()}")
        except KeyError:
            logger.exception("Error in reflex_backend_exception_handler")
    finally:
        logger.handlers.clear()
        logger.propagate = True
    captured = capsys.readouterr()
    output = "".join((captured.out + captured.err).split())  # rich wraps long lines
    assert "No registered handler found" in captured.out + captured.err
    for secret in SECRETS:
        assert secret not in output


def test_text_printed_around_logging_is_scrubbed(scrubbing, capsys):
    log.install_scrubbing()
    print(f"Received event data as a string: {_event_repr()}")
    sys.stderr.write(f"Traceback ... Authorization: Bearer {JWT}\n")
    captured = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in captured.out + captured.err
    assert "Received event data" in captured.out and "Authorization: [redacted]" in captured.err


@pytest.mark.parametrize("text", [
    "set the cookie, then go home",
    "token_hash=abc stays, a session id 9c519b0193a54b7d9072ad5cbf8e68ae stays",
    "GET /requests 200 3.1ms",
    "ADMIN_PASSWORD is too short (9 characters)",
])
def test_ordinary_text_is_left_alone(text):
    assert log.redact(text) == text


def test_database_url_passwords_are_hidden():
    assert log.redact("connect postgresql+psycopg://medianest:s3cret-pw@db:5432/medianest failed") == \
        "connect postgresql+psycopg://medianest:[redacted]@db:5432/medianest failed"


def test_quoted_credentials_with_spaces_and_the_password_form_are_hidden_whole():
    text = log.redact("""{'password': 'correct horse battery', "token": "abc def ghi", """
                      """'current': 'old pass phrase', 'new': 'new pass phrase', 'confirm': 'new pass phrase'}""")
    for word in ("horse", "battery", "def", "ghi", "old pass", "new pass"):
        assert word not in text, text
    assert log.redact("""{"name": "new", "count": 3}""") == """{"name": "new", "count": 3}"""


def test_a_token_written_in_pieces_is_still_scrubbed():
    sink = io.StringIO()
    stream = log._RedactingStream(sink)
    stream.write("session cookie mn_session=" + JWT[:20])
    stream.write(JWT[20:] + " seen\n")
    stream.write("tail without newline " + JWT)
    stream.flush()
    assert JWT not in sink.getvalue() and JWT[:20] not in sink.getvalue()
    assert "seen\n" in sink.getvalue() and "tail without newline" in sink.getvalue()


def test_settings_secrets_are_never_forgotten_however_many_tokens_pass(monkeypatch):
    monkeypatch.setattr(log, "_MAX_KNOWN_SECRETS", 5)
    log.register_secrets(["settings-secret-value-1"], permanent=True)
    log.register_secrets(f"upstream-token-{i:04d}" for i in range(50))
    assert "settings-secret-value-1" not in log.redact("key settings-secret-value-1 here")
    assert "upstream-token-0049" not in log.redact("x upstream-token-0049 y")
