"""Prometheus metrics of one service instance, in its own registry (a fresh one per app, so tests never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        r = self.registry
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Durée des requêtes HTTP",
            ["method", "route", "status"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.outbox_backlog = Gauge("outbox_backlog", "Événements de l'outbox pas encore publiés", registry=r)
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_age_seconds", "Âge du plus ancien événement non publié", registry=r
        )
        self.outbox_published = Counter("outbox_published", "Événements publiés par le relais", registry=r)
        self.outbox_publish_errors = Counter("outbox_publish_errors", "Échecs de publication du relais", registry=r)
        self.consumed = Counter("events_consumed", "Événements traités", ["consumer", "event_type"], registry=r)
        self.duplicates = Counter(
            "events_duplicate", "Événements déjà traités (ignorés par l'inbox)", ["consumer"], registry=r
        )
        self.dead_letters = Counter("dead_letters", "Messages mis en lettres mortes", ["consumer"], registry=r)
        self.dead_letters_pending = Gauge("dead_letters_pending", "Lettres mortes non résolues", registry=r)
        self.info = Gauge("service_info", "Service", ["service"], registry=r)
        self.info.labels(**labels).set(1)
