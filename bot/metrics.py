"""Prometheus metrics, one registry per app (no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_seconds = Histogram(
            "partybot_webhook_seconds",
            "Time to answer a webhook POST",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 5),
            registry=self.registry,
        )
        self.requests = Counter(
            "partybot_webhook_requests", "Webhook requests by HTTP status", ["status"], registry=self.registry
        )
        self.replies = Counter("partybot_replies", "Answers by route", ["route"], registry=self.registry)
        self.handler_errors = Counter(
            "partybot_handler_errors", "Handlers that raised", ["route"], registry=self.registry
        )
        self.budget_overruns = Counter(
            "partybot_budget_overruns", "Answers that missed the reply budget", registry=self.registry
        )
        self.dedupe_hits = Counter(
            "partybot_dedupe_hits", "Retries answered from dedupe", registry=self.registry
        )
        self.outbox_depth = Gauge(
            "partybot_outbox_depth", "Outbox rows by status", ["status"], registry=self.registry
        )
        self.delivery_results = Counter(
            "partybot_delivery_results",
            "Outbound deliveries by channel and result",
            ["channel", "result"],
            registry=self.registry,
        )
        self.token_refreshes = Counter(
            "partybot_token_refreshes", "access_token refreshes", registry=self.registry
        )
        self.write_behind_flushes = Counter(
            "partybot_write_behind_flushes", "Write-behind batches committed", registry=self.registry
        )

        # Labelled children, looked up once: `labels()` takes a lock and builds a key on every call.
        self.requests_400 = self.requests.labels("400")
        self.requests_403 = self.requests.labels("403")
        self.requests_413 = self.requests.labels("413")
        self._status: dict[int, Counter] = {}
        self._routes: dict[str, Counter] = {}

    def request_status(self, status: int) -> Counter:
        child = self._status.get(status)
        if child is None:
            child = self._status[status] = self.requests.labels(str(status))
        return child

    def reply_route(self, route: str) -> Counter:
        child = self._routes.get(route)
        if child is None:
            child = self._routes[route] = self.replies.labels(route)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
