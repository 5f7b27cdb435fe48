"""Watch the console feed with the generated Python client.

Usage: python watch.py [URL] [FRAMES]   (default ws://127.0.0.1:8000/ws, forever)

Prints each snapshot's health and every event; the client reconnects by itself
and says so, and a resync says which state to fetch again.
"""

import asyncio
import logging
import sys

from console_live_updates import (
    ChannelName,
    ChannelSubscription,
    Client,
    ClusterHealthChanged,
    Disconnected,
    GroupStatusChanged,
    GroupUpdated,
    MetricsSnapshot,
    Reconnected,
    Resync,
    ServerMessage,
    SubscriptionFailed,
    TopicCreated,
    TopicDeleted,
    TopicUpdated,
    Welcome,
)

CHANNELS: tuple[ChannelName, ...] = ("metrics", "topics", "groups", "cluster")
REFETCH = {"topics": "/api/topics", "groups": "/api/groups", "cluster": "/api/cluster"}
"""Where each event channel's state can be fetched again after a resync."""


def show(line: str) -> None:
    print(line, flush=True)  # at once, also when the output is a pipe


def describe(message: ServerMessage) -> str | None:
    """One line for a pushed message (``None``: not worth a line)."""
    match message:
        case MetricsSnapshot(seq=seq, cluster=health):
            online = f"{health.brokers_online}/{health.brokers_expected}"
            return f"snapshot {seq} {health.status} brokers {online}"
        case TopicCreated(topic=topic) | TopicUpdated(topic=topic):
            return f"event {message.type} {topic.name}"
        case TopicDeleted(name=name):
            return f"event {message.type} {name}"
        case GroupUpdated(group_id=group, change=change):
            return f"event {message.type} {group} {change}"
        case GroupStatusChanged(group_id=group, previous_status=before, status=after):
            return f"event {message.type} {group} {before} -> {after}"
        case ClusterHealthChanged(previous_status=before, status=after):
            return f"event {message.type} {before} -> {after}"
        case _:
            return None


async def watch(url: str, frames: int | None) -> None:
    async with Client.connect(url) as client:
        subscriptions = [ChannelSubscription(name=name) for name in CHANNELS]
        await client.subscribe(channels=subscriptions)
        show("subscribed " + ", ".join(CHANNELS))
        async for item in client:
            match item:
                case Welcome(protocol_version=version):
                    show(f"welcome, protocol {version}")
                    continue
                case Disconnected(code=code, reason=reason):
                    show(f"disconnected ({code} {reason}), reconnecting")
                    continue
                case Reconnected(attempts=attempts, downtime=downtime):
                    show(f"reconnected after {attempts} attempt(s), {downtime:.1f} s down")
                    continue
                case Resync(channel=channel, reason=reason):
                    path = REFETCH.get(channel, "/api/" + channel)
                    show(f"resync {channel} ({reason}): would refetch GET {path}")
                    continue
                case SubscriptionFailed(channels=lost, error=error):
                    show(f"resubscribing {', '.join(lost)} failed: {error}")
                    continue
            line = describe(item)
            if line is None:
                continue
            show(line)
            if frames is not None:
                frames -= 1
                if frames <= 0:
                    return


if __name__ == "__main__":
    # The client logs what it does about the connection (warnings) on stderr.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8000/ws"
    asyncio.run(watch(url, int(sys.argv[2]) if len(sys.argv) > 2 else None))
