"""The service's connection to NATS JetStream through FastStream.

- Streams: a service declares only the stream it owns (contracts.streams); it attaches to the others.
- Publishing: through the broker, always via JetStream with `Nats-Msg-Id` = event id (de-duplicated by the server).
- Consuming: one durable pull consumer per (service, stream), explicit ack, fetched in batches
  (`consumer_batch_size`). A batch is applied inside ONE database transaction together with the inbox records of
  its events, then acknowledged, so a redelivered or replayed event changes nothing; a run of consecutive events of
  one type whose handler is `Batched` is applied by one call (bulk statements). When the batch transaction fails on
  one event, that event alone counts a failed attempt and the others are applied again as a batch; when the failure
  cannot be pinned on one event, every message is applied on its own transaction. So one poison message neither
  blocks nor loses the others, and is tried exactly once per delivery. A failing event is
  redelivered with exponential delay; after `consumer_max_deliver` attempts it is stored in `dead_letters`, counted,
  and acknowledged, so it never blocks the messages behind it. The JetStream consumer itself has no delivery limit:
  if even the dead-letter write fails (database down), the message comes back later instead of being lost.
- Connection: connects in the background and reconnects forever, so a service starts and takes writes while NATS is
  away; the outbox holds the events until NATS returns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import nats.js.api as js_api
from faststream import AckPolicy, Context
from faststream.exceptions import NackMessage
from faststream.nats import JStream, NatsBroker, PubAck, PullSub
from faststream.nats.message import NatsBatchMessage
from faststream.nats.prometheus import NatsPrometheusMiddleware
from faststream.nats.subscriber.usecases import stream_pull_subscriber
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import BaseModel, ValidationError, create_model
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, StreamSpec, spec_for_subject
from contracts.streams import stream_owned_by
from shared import inbox
from shared.db import Database
from shared.infra import InfraTables
from shared.logs import correlation_id
from shared.metrics import ServiceMetrics
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

# FastStream 0.7.8's pull loops catch `nats.errors.TimeoutError` around `fetch`, but nats-py 2.16 raises the builtin
# TimeoutError (its base class) when no message comes. The batch loop then dies, dropping the partial batch it had
# fetched: JetStream redelivers it only after ack_wait (30 s stalls). Make those loops catch the builtin.
# tests/faults/test_small_batches_flow.py
stream_pull_subscriber.TimeoutError = TimeoutError  # type: ignore[attr-defined,misc]

# A handler applies one event inside the given transaction. It must not commit.
Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
# A batch handler applies several events of one type, in their order, inside the given transaction.
BatchHandler = Callable[[AsyncSession, list[tuple[Any, Envelope]]], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """A handler that applies a run of consecutive events of its type in one call (bulk statements); called with
    one event it is an ordinary `Handler`. `any_order`: its effect does not depend on the order of events of other
    types (an order-insensitive projection), so all its events of a batch are applied together, at the place of
    the first one."""

    many: BatchHandler
    any_order: bool = False

    async def __call__(self, session: AsyncSession, event: Any, envelope: Envelope) -> None:
        await self.many(session, [(event, envelope)])


@functools.cache
def typed_envelope(model: type[BaseModel]) -> type[Envelope]:
    """The envelope whose `data` is validated as `model` in the same pass over the JSON (3× quicker than a dict
    validated again: what a rebuild of a million hour entries spends most of its time on)."""
    return create_model(f"Envelope_{model.__name__}", __base__=Envelope, data=(model, ...))


@dataclass
class Received:
    """One message as JetStream delivered it (`attempt` = its delivery count)."""

    subject: str
    body: bytes
    attempt: int


@dataclass
class Parsed:
    spec: EventSpec
    handler: Handler
    envelope: Envelope  # a `typed_envelope`: its `data` is `event`, not a dict
    event: BaseModel


def _groups(parsed: list[Parsed]) -> list[list[Parsed]]:
    """The calls applying `parsed`: one per event, one per run of consecutive events of a `Batched` handler, and one
    per `any_order` handler for all its events (at the place of its first event)."""
    groups: list[list[Parsed]] = []
    any_order: dict[int, list[Parsed]] = {}
    for p in parsed:
        handler = p.handler
        if isinstance(handler, Batched) and handler.any_order:
            if id(handler) not in any_order:
                any_order[id(handler)] = []
                groups.append(any_order[id(handler)])
            any_order[id(handler)].append(p)
        elif isinstance(handler, Batched) and groups and groups[-1][-1].handler is handler:
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups


class ApplyFailed(Exception):
    """A handler failed on `events` (one event, or the run a `Batched` handler was applying); see `__cause__`."""

    def __init__(self, events: list[Parsed]) -> None:
        super().__init__(f"{len(events)} événement(s) {events[0].spec.event_type} en échec")
        self.events = events


class NotConnected(ConnectionError):
    """NATS is away: the relay waits for the reconnection instead of backing off further."""


@dataclass
class Consumer:
    name: str
    stream: StreamSpec
    version: str  # settings.consumer_durable_version
    handlers: dict[str, tuple[EventSpec, Handler]] = field(default_factory=dict)
    attached: bool = False

    @property
    def durable(self) -> str:
        return f"{self.name}_{self.stream.name.lower()}_{self.version}"

    def parse(self, subject: str, body: bytes) -> Parsed | None:
        """The event a message carries; None when this consumer does not read its subject (or not this version yet).
        Raises ValidationError on a malformed message (retrying cannot help)."""
        entry = self.handlers.get(subject)
        if entry is None:
            return None
        spec, handler = entry
        envelope = typed_envelope(spec.model).model_validate_json(body)
        return Parsed(spec, handler, envelope, envelope.data)


async def _undecoded(_message: Any) -> None:
    """FastStream's decoder of our subscribers: none. `receive` validates each raw body itself (Consumer.parse), so
    FastStream's own JSON decoding of every message of a batch would be work thrown away (a tenth of reporting's
    time while it projects a bulk import)."""
    return None


class EventBus:
    def __init__(self, settings: ServiceSettings, db: Database, tables: InfraTables, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.service = settings.service_name
        self.db = db
        self.tables = tables
        self.metrics = metrics
        self._connected_listeners: list[Callable[[], None]] = []
        self.broker = NatsBroker(
            [s.strip() for s in settings.nats_url.split(",")],
            name=self.service,
            reconnected_cb=self._on_reconnected,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            graceful_timeout=settings.graceful_timeout_seconds,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            middlewares=[NatsPrometheusMiddleware(registry=metrics.registry, app_name=self.service)],
            logger=logging.getLogger(f"faststream.{self.service}"),
            log_level=logging.DEBUG,
        )
        self.consumers: dict[str, Consumer] = {}
        self.stream_declared = False
        self._task: asyncio.Task[None] | None = None

    # ---- registration -------------------------------------------------------------------------------------------
    def on(self, spec: EventSpec, handler: Handler) -> None:
        """Apply `handler` to every `spec` event; the consumer name is the service name."""
        version = self.settings.consumer_durable_version
        consumer = self.consumers.setdefault(spec.stream.name, Consumer(self.service, spec.stream, version))
        consumer.handlers[spec.subject] = (spec, handler)

    def when_connected(self, listener: Callable[[], None]) -> None:
        """Call `listener` after the first connection and after every reconnection (e.g. wake the outbox relay)."""
        self._connected_listeners.append(listener)

    async def _on_reconnected(self) -> None:
        log.info("NATS reconnecté")
        for listener in self._connected_listeners:
            listener()

    # ---- lifecycle ----------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        try:
            return bool(self.broker.config.connection_state.connection.is_connected)
        except Exception:  # FastStream raises IncorrectState before the first connection
            return False

    @property
    def ready(self) -> bool:
        return self.connected and self.stream_declared and all(c.attached for c in self.consumers.values())

    def waiting_for(self) -> list[str]:
        missing = [f"flux {c.stream.name}" for c in self.consumers.values() if not c.attached]
        if not self.stream_declared:
            missing.insert(0, "déclaration du flux")
        return missing

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_and_attach(), name=f"{self.service}-bus")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        try:
            await self.broker.stop()
        except Exception:
            log.debug("broker stop", exc_info=True)

    async def _connect_and_attach(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.start()
                break
            except Exception as exc:
                log.warning("NATS injoignable (%s), nouvel essai dans %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
        await self._declare_own_stream()
        for listener in self._connected_listeners:
            listener()
        # Each consumer waits for its own stream: one producer still absent does not hold back the others.
        await asyncio.gather(*(self._attach(c) for c in self.consumers.values()))

    @property
    def _js(self) -> Any:
        return self.broker.config.connection_state.connection.jetstream()

    async def _declare_own_stream(self) -> None:
        spec = stream_owned_by(self.service)
        if spec is not None:
            config = js_api.StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=js_api.StorageType.FILE,
                retention=js_api.RetentionPolicy.LIMITS,
                duplicate_window=self.settings.duplicate_window_seconds,
                num_replicas=self.settings.stream_replicas,
            )
            while True:
                try:
                    try:
                        await self._js.add_stream(config)
                    except BadRequestError:  # exists with another config: bring it to ours
                        await self._js.update_stream(config)
                    break
                except Exception as exc:
                    log.warning("déclaration du flux %s impossible (%s), nouvel essai", spec.name, exc)
                    await asyncio.sleep(1)
        self.stream_declared = True

    async def _attach(self, consumer: Consumer) -> None:
        """Wait for the producer to declare the stream, reconcile the durable's config, then start pulling."""
        config = js_api.ConsumerConfig(
            durable_name=consumer.durable,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            deliver_policy=js_api.DeliverPolicy.ALL,
            ack_wait=self.settings.consumer_ack_wait_seconds,
            max_deliver=-1,
            max_ack_pending=max(1000, self.settings.consumer_batch_size * 10),
            filter_subject=consumer.stream.subjects[0],
        )
        while True:
            try:
                await self._js.stream_info(consumer.stream.name)
                await self._js.add_consumer(consumer.stream.name, config)  # creates, or updates editable fields
                break
            except NotFoundError:
                log.info("en attente du flux %s", consumer.stream.name)
            except Exception as exc:
                log.warning("rattachement au flux %s impossible (%s)", consumer.stream.name, exc)
            await asyncio.sleep(1)

        subscriber = self.broker.subscriber(
            consumer.stream.subjects[0],
            stream=JStream(consumer.stream.name, declare=False),
            durable=consumer.durable,
            config=config,
            pull_sub=PullSub(batch_size=self.settings.consumer_batch_size, timeout=0.2, batch=True),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_undecoded,
        )

        async def receive(_decoded: Any, msg: Annotated[NatsBatchMessage, Context("message")]) -> None:
            raws = msg.raw_message  # we validate the raw bytes ourselves (a malformed body must reach dead letters)
            received = [Received(raw.subject, raw.data, raw.metadata.num_delivered) for raw in raws]
            for raw, retry_in in zip(raws, await self.deliver_batch(consumer, received), strict=True):
                if retry_in is None:
                    await raw.ack()
                else:
                    await raw.nak(delay=retry_in)

        subscriber(receive)
        await subscriber.start()
        consumer.attached = True
        log.info("consommateur %s rattaché au flux %s", consumer.durable, consumer.stream.name)

    # ---- consuming ----------------------------------------------------------------------------------------------
    async def deliver_batch(self, consumer: Consumer, messages: list[Received]) -> list[float | None]:
        """Apply a batch in one transaction. Returns, per message, None to ack it or the delay before its redelivery.

        When the transaction fails on one event, nothing of it is kept: that event alone counts a failed attempt
        (redelivered later, or dead-lettered after `consumer_max_deliver` attempts) and the others are applied again
        as a batch. A malformed message is dead-lettered at once. When the failure cannot be pinned on one event (a
        bulk handler's run, the commit), every message is delivered on its own (`deliver`)."""
        outcome: list[float | None] = [None] * len(messages)
        parsed: dict[int, Parsed] = {}
        for i, m in enumerate(messages):
            try:
                if (p := consumer.parse(m.subject, m.body)) is not None:
                    parsed[i] = p
            except ValidationError as exc:  # malformed: retrying cannot help
                await self._dead_letter(consumer, m.subject, m.body, None, f"message invalide : {exc}", m.attempt)
        while parsed:
            try:
                async with self.db.session() as session, session.begin():
                    applied = await self.apply_parsed(session, consumer.name, list(parsed.values()))
            except ApplyFailed as exc:
                failed = [i for i, p in parsed.items() if any(p is q for q in exc.events)]
                if len(failed) != 1:
                    break
                i = failed[0]
                outcome[i] = await self._failed(consumer, messages[i], parsed.pop(i), exc.__cause__ or exc)
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. the commit: each message on its own, usual retries
                log.warning("%s: lot de %d messages en échec, un par un : %r", consumer.name, len(parsed), exc)
                break
            for p in applied:  # counted once committed
                self.metrics.consumed.labels(consumer.name, p.spec.event_type).inc()
            if len(parsed) > len(applied):
                self.metrics.duplicates.labels(consumer.name).inc(len(parsed) - len(applied))
            return outcome
        for i in parsed:
            m = messages[i]
            try:
                await self.deliver(consumer, m.subject, m.body, m.attempt)
            except NackMessage as nack:
                outcome[i] = nack.extra_options["delay"]
        return outcome

    async def apply_parsed(self, session: AsyncSession, consumer_name: str, parsed: list[Parsed]) -> list[Parsed]:
        """Inside the caller's transaction: claim the events in the inbox, then apply those not seen before, in
        order (see `_groups`). Returns those applied (not seen before)."""
        fresh = await inbox.claim_many(session, self.tables, consumer_name, [p.envelope.event_id for p in parsed])
        todo: list[Parsed] = []
        for p in parsed:
            if p.envelope.event_id in fresh:
                fresh.discard(p.envelope.event_id)  # twice in the batch: applied once
                todo.append(p)
        for group in _groups(todo):
            first = group[0]
            token = correlation_id.set(first.envelope.correlation_id)
            try:
                if isinstance(first.handler, Batched):
                    await first.handler.many(session, [(p.event, p.envelope) for p in group])
                else:
                    await first.handler(session, first.event, first.envelope)
            except Exception as exc:
                raise ApplyFailed(group) from exc
            finally:
                correlation_id.reset(token)
        return todo

    async def deliver(self, consumer: Consumer, subject: str, body: bytes, attempt: int) -> None:
        """Apply one delivered message. Returns normally to ack; raises NackMessage to be redelivered later."""
        try:
            parsed = consumer.parse(subject, body)
        except ValidationError as exc:  # malformed: retrying cannot help
            await self._dead_letter(consumer, subject, body, None, f"message invalide : {exc}", attempt)
            return
        if parsed is None:
            return  # an event this service does not use (or a newer version it does not read yet)
        spec, handler, envelope, event = parsed.spec, parsed.handler, parsed.envelope, parsed.event
        token = correlation_id.set(envelope.correlation_id)
        try:
            await self._apply(consumer, spec, handler, envelope, event)
        except Exception as exc:
            delay = await self._failed(consumer, Received(subject, body, attempt), parsed, exc)
            if delay is not None:
                raise NackMessage(delay=delay) from exc
        finally:
            correlation_id.reset(token)

    async def _failed(self, consumer: Consumer, message: Received, parsed: Parsed, exc: BaseException) -> float | None:
        """An attempt at `message` failed: the delay before its redelivery, or None once it is dead-lettered."""
        attempt, event_type = message.attempt, parsed.spec.event_type
        if attempt >= self.settings.consumer_max_deliver:
            log.error("%s: %s abandonné après %d essais: %s", consumer.name, event_type, attempt, exc)
            await self._dead_letter(consumer, message.subject, message.body, parsed.envelope.event_id, repr(exc),
                                    attempt)
            return None
        delay = min(60.0, self.settings.consumer_retry_delay_seconds * 2 ** (attempt - 1))
        log.warning("%s: %s en échec (essai %d), relivré dans %.1fs: %s", consumer.name, event_type, attempt, delay, exc)
        return delay

    async def _apply(
        self, consumer: Consumer, spec: EventSpec, handler: Handler, envelope: Envelope, event: BaseModel
    ) -> None:
        async with self.db.session() as session, session.begin():
            if not await inbox.claim(session, self.tables, consumer.name, envelope.event_id):
                self.metrics.duplicates.labels(consumer.name).inc()
                return
            await handler(session, event, envelope)
        self.metrics.consumed.labels(consumer.name, spec.event_type).inc()

    async def _dead_letter(
        self, consumer: Consumer, subject: str, body: bytes, event_id: Any, error: str, attempt: int
    ) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                insert(self.tables.dead_letters).values(
                    consumer=consumer.name,
                    event_id=event_id,
                    subject=subject,
                    payload=body.decode("utf-8", errors="replace"),
                    error=error[:4000],
                    attempts=attempt,
                    created_at=datetime.now(UTC),
                )
            )
        self.metrics.dead_letters.labels(consumer.name).inc()

    async def pending_dead_letters(self) -> int:
        t = self.tables.dead_letters
        async with self.db.session() as session:
            return int((await session.execute(select(func.count()).where(t.c.resolved_at.is_(None)))).scalar_one())

    # ---- publishing ---------------------------------------------------------------------------------------------
    async def publish(self, subject: str, payload: bytes, event_id: str) -> PubAck:
        """Publish one outbox row through JetStream; raises when NATS did not store it."""
        if not self.connected:
            raise NotConnected("NATS non connecté")
        ack = await self.broker.publish(
            payload,
            subject,
            stream=spec_for_subject(subject).stream.name,
            headers={"Nats-Msg-Id": event_id, "content-type": "application/json"},
            timeout=5.0,
        )
        if ack is None:
            raise ConnectionError(f"pas d'accusé JetStream pour {subject}")
        return ack
