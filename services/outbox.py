"""A transactional outbox for alerts, shared by the services that raise them (trend, reconcile).

An alert is written under its deterministic id to the outbox table before it is sent, and to the
pending table (key `<area>/<alert id>`) until the bus has acknowledged it (`after_flush`). A crash in
between leaves it pending, and the next message for that area sends it again with the same id. An
alert already in the outbox is never raised twice. Each service has tables of its own (it is the
single writer of its areas' keys), and every alert goes to the shared `alerts` topic keyed by area.
"""

from __future__ import annotations

from greenwatch.schemas import ALERT, make_event
from greenwatch.services import metrics, topics
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store


class AlertOutbox:
    def __init__(self, store: Store, *, table: str, pending_table: str, source: str) -> None:
        self.store, self.table, self.pending_table, self.source = store, table, pending_table, source
        self._sent: dict[str, None] = {}

    def raised(self, alert_id: str) -> bool:
        """Whether this alert was raised before (it is then never raised again)."""
        return self.store.get(self.table, alert_id) is not None

    def put(self, alert: Doc) -> bool:
        """Store a new alert (`alert_id`, `area_id`, `alert_type` and the rest of the alert schema) as
        pending; False, and nothing written, if it was raised before."""
        alert_id = alert["alert_id"]
        if self.raised(alert_id):
            return False
        self.store.put(self.table, alert_id, alert)
        self.store.put(self.pending_table, f"{alert['area_id']}/{alert_id}", alert)
        metrics.ALERTS.labels(alert["alert_type"]).inc()
        return True

    def pending(self, area: str) -> list[Outgoing]:
        """The area's alerts not yet acknowledged by the bus, each once per batch."""
        out = []
        for key, alert in self.store.scan(self.pending_table, area + "/"):
            if key in self._sent:
                continue
            ev = make_event(ALERT, alert, source=self.source, subject=area, event_id=alert["alert_id"])
            out.append(Outgoing(topics.ALERTS, area, ev))
            self._sent[key] = None
        return out

    def after_flush(self) -> None:
        """The bus acknowledged every alert sent since the last flush: they are no longer pending."""
        for key in self._sent:
            self.store.delete(self.pending_table, key)
        self._sent = {}
