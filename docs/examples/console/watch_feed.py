"""Print the console feed: each snapshot's health and lag statuses, and every change.

Usage: python watch_feed.py [URL] [FRAMES]   (default ws://127.0.0.1:8000/ws, forever)
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def watch(url: str, frames: int | None) -> None:
    async with connect(url) as ws:
        print(json.loads(await ws.recv())["type"])  # welcome
        channels = [{"name": n} for n in ("metrics", "topics", "groups", "cluster")]
        await ws.send(json.dumps({"type": "subscribe", "id": "s-1", "channels": channels}))
        print(json.loads(await ws.recv())["type"])  # subscribed
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "metrics.snapshot":
                lag = {g["group_id"]: g["status"] for g in frame["groups"]}
                print(frame["seq"], frame["cluster"]["status"], lag)
            else:
                subject = frame.get("topic", {}).get("name") or frame.get("group_id", "")
                print(frame["type"], subject)
            if frames is not None:
                frames -= 1
                if frames == 0:
                    return


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8000/ws"
    asyncio.run(watch(url, int(sys.argv[2]) if len(sys.argv) > 2 else None))
