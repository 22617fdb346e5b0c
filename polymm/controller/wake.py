"""Early wake-ups from the venue's WebSocket channels: a fill, an order update, or a change in a book we
quote in ends the loop's sleep.

The channels only wake the loop; the tick still reads everything over REST. After a reconnect they
wake the loop too, so the tick resyncs what the channel may have missed. A fill of ours (a `trade`
event) also sets `urgent`: the loop then starts the next tick as soon as the running one ends, without
the spacing that keeps a burst of book changes from turning into back-to-back ticks (the taker's trade
moves the book too, so its `price_change` often starts a tick a moment before our `trade` event
arrives: without `urgent`, the hedge waited for that tick and then for the spacing).
"""

from __future__ import annotations

import threading
import time

from polymm.venue.channels import ChannelListener, MarketSubscription


class FillSignal(threading.Event):
    """`urgent`: set when a trade event of ours arrives on the user channel. It also keeps, for a short while,
    when each trade id arrived, so a tick can tell whether its trades read may have missed one: a trade that
    arrived after the read was sent and is not in its reply (`missed`)."""

    KEEP_S = 60.0  # an arrival older than this is forgotten (a tick has read the trades since, or will)

    def __init__(self) -> None:
        super().__init__()
        self._arrived: dict[str | None, float] = {}
        self._lock = threading.Lock()

    def note(self, trade_ids: list[str | None]) -> None:
        now = time.monotonic()
        with self._lock:
            for trade_id in trade_ids:
                self._arrived[trade_id] = now
        self.set()

    def missed(self, read_sent_at: float, trade_ids_read: set[str]) -> bool:
        """True when a trade arrived after `read_sent_at` and `trade_ids_read` (the reply's ids) lacks it. Trades
        the reply holds are forgotten; so is anything older than KEEP_S."""
        now = time.monotonic()
        with self._lock:
            self._arrived = {t: at for t, at in self._arrived.items()
                             if t not in trade_ids_read and now - at < self.KEEP_S}
            return any(at > read_sent_at for at in self._arrived.values())


class UserChannelWaker(ChannelListener):
    """Our fills and order updates."""

    path = "/user"
    name = "user"

    def __init__(self, ws_url: str, api_key: str, secret: str, passphrase: str, wake: threading.Event,
                 urgent: threading.Event | None = None) -> None:
        super().__init__(ws_url)
        self.wake = wake
        self.urgent = urgent or FillSignal()
        self.auth = {"apiKey": api_key, "secret": secret, "passphrase": passphrase}

    def first_messages(self) -> list[dict]:
        return [{"auth": self.auth, "markets": [], "type": "user"}]

    def on_connect(self) -> None:
        self.wake.set()

    def on_events(self, events: list[dict]) -> None:
        kinds = {e.get("event_type") for e in events}
        if "trade" in kinds:  # a fill: its hedge goes out with the next tick, unspaced
            trade_ids = [e.get("id") for e in events if e.get("event_type") == "trade"]
            if isinstance(self.urgent, FillSignal):
                self.urgent.note(trade_ids)
            else:
                self.urgent.set()
        if kinds & {"trade", "order"}:
            self.wake.set()


class MarketChannelWaker(MarketSubscription):
    """Book changes on the tokens we have orders on (`watch` is called every tick)."""

    def __init__(self, ws_url: str, wake: threading.Event) -> None:
        super().__init__(ws_url)
        self.wake = wake

    def on_connect(self) -> None:
        self.wake.set()

    def on_events(self, events: list[dict]) -> None:
        wanted = self.watched()
        for event in events:
            # the `book` snapshot on subscribing is not a change
            if event.get("event_type") == "price_change" and any(
                    str(c.get("asset_id")) in wanted for c in event.get("price_changes") or []):
                self.wake.set()
                return
