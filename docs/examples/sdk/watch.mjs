// Watch the console feed with the generated TypeScript client, from plain JavaScript.
//
// Usage: node watch.mjs [URL] [FRAMES]   (default ws://127.0.0.1:8000/ws, forever)
//
// Prints each snapshot's health and every event; the client reconnects by itself
// and says so, and a resync says which state to fetch again. The JSDoc types let
// `tsc --checkJs` check it against the package's declarations.
import { Client } from "console-live-updates";
import { WebSocket } from "ws";

/** @typedef {import("console-live-updates").ChannelName} ChannelName */
/** @typedef {import("console-live-updates").ServerMessage} ServerMessage */

/** @type {ChannelName[]} */
const CHANNELS = ["metrics", "topics", "groups", "cluster"];
/** Where each event channel's state can be fetched again after a resync. */
const REFETCH = { topics: "/api/topics", groups: "/api/groups", cluster: "/api/cluster" };

const url = process.argv[2] ?? "ws://127.0.0.1:8000/ws";
const frames = process.argv[3] === undefined ? Infinity : Number(process.argv[3]);

/**
 * One line for a pushed message (`null`: not worth a line).
 * @param {ServerMessage} message
 * @returns {string | null}
 */
function describe(message) {
  switch (message.type) {
    case "metrics.snapshot": {
      const health = message.cluster;
      return `snapshot ${message.seq} ${health.status} brokers ${health.brokers_online}/${health.brokers_expected}`;
    }
    case "topic.created":
    case "topic.updated":
      return `event ${message.type} ${message.topic.name}`;
    case "topic.deleted":
      return `event ${message.type} ${message.name}`;
    case "group.updated":
      return `event ${message.type} ${message.group_id} ${message.change}`;
    case "group.status_changed":
      return `event ${message.type} ${message.group_id} ${message.previous_status} -> ${message.status}`;
    case "cluster.health_changed":
      return `event ${message.type} ${message.previous_status} -> ${message.status}`;
    default:
      return null;
  }
}

// `create` rather than `connect`: the handlers are in place before the first frame.
const client = Client.create(url, { WebSocket });
let seen = 0;
let dropped = false;

client.on("welcome", (welcome) => console.log(`welcome, protocol ${welcome.protocol_version}`));
client.on("*", (message) => {
  const line = describe(message);
  if (line === null) return;
  console.log(line);
  seen += 1;
  if (seen >= frames) client.close();
});
client.onStatus((status, detail) => {
  if (status === "reconnecting" && detail?.code !== undefined) {
    dropped = true;
    console.log(`disconnected (${detail.code} ${detail.reason ?? ""}), reconnecting`);
  } else if (status === "open" && dropped) {
    dropped = false;
    console.log("reconnected");
  }
});
client.onResync(({ channel, reason }) => {
  console.log(`resync ${channel} (${reason}): would refetch GET ${REFETCH[channel]}`);
});
client.onError((error) => console.error("error:", error));

await client.start();
await client.subscribe({ channels: CHANNELS.map((name) => ({ name })) });
console.log(`subscribed ${CHANNELS.join(", ")}`);
