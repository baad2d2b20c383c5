"""The service's connection to NATS JetStream through FastStream.

- Streams: a service declares only the stream it owns (contracts.streams); it attaches to the others.
- Publishing: through the broker, always via JetStream with `Nats-Msg-Id` = event id (de-duplicated by the server).
- Consuming: one durable pull consumer per (service, stream), explicit ack. Every event is applied inside one database
  transaction together with its inbox record, so a redelivered or replayed event changes nothing. A failing event is
  redelivered with exponential delay; after `consumer_max_deliver` attempts it is stored in `dead_letters`, counted,
  and acknowledged, so it never blocks the messages behind it. The JetStream consumer itself has no delivery limit:
  if even the dead-letter write fails (database down), the message comes back later instead of being lost.
- Connection: connects in the background and reconnects forever, so a service starts and takes writes while NATS is
  away; the outbox holds the events until NATS returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats.js.api as js_api
from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.nats import JStream, NatsBroker, NatsMessage, PubAck, PullSub
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import BaseModel, ValidationError
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

# A handler applies one event inside the given transaction. It must not commit.
Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
DURABLE_VERSION = "v1"  # bump to start a consumer afresh (its config is then created, not silently ignored)


class NotConnected(ConnectionError):
    """NATS is away: the relay waits for the reconnection instead of backing off further."""


@dataclass
class Consumer:
    name: str
    stream: StreamSpec
    handlers: dict[str, tuple[EventSpec, Handler]] = field(default_factory=dict)
    attached: bool = False

    @property
    def durable(self) -> str:
        return f"{self.name}_{self.stream.name.lower()}_{DURABLE_VERSION}"


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
        consumer = self.consumers.setdefault(spec.stream.name, Consumer(self.service, spec.stream))
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
            pull_sub=PullSub(batch_size=self.settings.consumer_batch_size, timeout=1.0),
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )

        async def receive(_decoded: Any, msg: NatsMessage) -> None:
            raw = msg.raw_message  # we validate the raw bytes ourselves (a malformed body must reach dead letters)
            await self.deliver(consumer, raw.subject, raw.data, raw.metadata.num_delivered)

        subscriber(receive)
        await subscriber.start()
        consumer.attached = True
        log.info("consommateur %s rattaché au flux %s", consumer.durable, consumer.stream.name)

    # ---- consuming ----------------------------------------------------------------------------------------------
    async def deliver(self, consumer: Consumer, subject: str, body: bytes, attempt: int) -> None:
        """Apply one delivered message. Returns normally to ack; raises NackMessage to be redelivered later."""
        entry = consumer.handlers.get(subject)
        if entry is None:
            return  # an event this service does not use (or a newer version it does not read yet)
        spec, handler = entry
        try:
            envelope = Envelope.model_validate_json(body)
            event = spec.model.model_validate(envelope.data)
        except ValidationError as exc:  # malformed: retrying cannot help
            await self._dead_letter(consumer, subject, body, None, f"message invalide : {exc}", attempt)
            return
        token = correlation_id.set(envelope.correlation_id)
        try:
            await self._apply(consumer, spec, handler, envelope, event)
        except Exception as exc:
            if attempt >= self.settings.consumer_max_deliver:
                log.error("%s: %s abandonné après %d essais: %s", consumer.name, spec.event_type, attempt, exc)
                await self._dead_letter(consumer, subject, body, envelope.event_id, repr(exc), attempt)
                return
            delay = min(60.0, self.settings.consumer_retry_delay_seconds * 2 ** (attempt - 1))
            log.warning("%s: %s en échec (essai %d), relivré dans %.1fs: %s", consumer.name, spec.event_type, attempt, delay, exc)
            raise NackMessage(delay=delay) from exc
        finally:
            correlation_id.reset(token)

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
