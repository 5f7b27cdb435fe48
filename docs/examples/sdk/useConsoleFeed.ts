// A React hook over the console feed, with the generated TypeScript client and the
// browser's WebSocket: the latest snapshot, the recent events and the connection status.
//
//   const { snapshot, events, status, topics } = useConsoleFeed("wss://console.example.com/ws");
//
// The client reconnects and resubscribes by itself. When it reports that events of
// `topics` were missed (a resync), the hook fetches the topic list again.
import { useEffect, useState } from "react";
import {
  Client,
  type ChannelName,
  type ClientOptions,
  type ClientStatus,
  type ClusterHealthChanged,
  type GroupStatusChanged,
  type GroupUpdated,
  type MetricsSnapshot,
  type ServerMessage,
  type TopicCreated,
  type TopicDeleted,
  type TopicUpdated,
} from "console-live-updates";

/** What the event channels push. */
export type FeedEvent =
  | TopicCreated
  | TopicDeleted
  | TopicUpdated
  | GroupUpdated
  | GroupStatusChanged
  | ClusterHealthChanged;

/** One topic as `GET /api/topics` lists it. */
export interface TopicView {
  name: string;
  partitions: number;
  replication_factor: number;
  config: Record<string, string>;
  messages: number;
  size_bytes: number;
  under_replicated_partitions: number;
  offline_partitions: number;
}

export interface ConsoleFeedOptions {
  /** The channels to subscribe to (default: all four). */
  channels?: readonly ChannelName[];
  /** How many recent events to keep, newest first (default 50). */
  maxEvents?: number;
  /** Where the topic list is fetched, on mount and after a resync of `topics`. */
  topicsUrl?: string;
  /** Options of the client (token, reconnect, heartbeat...), read when it connects. */
  client?: Omit<ClientOptions, "WebSocket">;
}

export interface ConsoleFeed {
  snapshot: MetricsSnapshot | null;
  events: FeedEvent[];
  status: ClientStatus;
  topics: TopicView[] | null;
  /** The last thing that went wrong: the first connection, a request, a fetch. */
  error: Error | null;
}

const ALL_CHANNELS: readonly ChannelName[] = ["metrics", "topics", "groups", "cluster"];

function isFeedEvent(message: ServerMessage): message is FeedEvent {
  return "channel" in message && message.channel !== "metrics";
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function useConsoleFeed(url: string, options: ConsoleFeedOptions = {}): ConsoleFeed {
  const [snapshot, setSnapshot] = useState<MetricsSnapshot | null>(null);
  const [events, setEvents] = useState<FeedEvent[]>([]);
  const [status, setStatus] = useState<ClientStatus>("connecting");
  const [topics, setTopics] = useState<TopicView[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const maxEvents = options.maxEvents ?? 50;
  const topicsUrl = options.topicsUrl ?? "/api/topics";
  // A string, so that a new array on every render does not reconnect.
  const channels = (options.channels ?? ALL_CHANNELS).join(",");

  useEffect(() => {
    let active = true;
    const aborter = new AbortController();
    const fail = (reason: unknown): void => {
      if (active) setError(asError(reason));
    };

    async function refetchTopics(): Promise<void> {
      try {
        const response = await fetch(topicsUrl, { signal: aborter.signal });
        if (!response.ok) throw new Error(`GET ${topicsUrl}: HTTP ${response.status}`);
        const list = (await response.json()) as TopicView[];
        if (active) setTopics(list);
      } catch (reason) {
        if (!aborter.signal.aborted) fail(reason);
      }
    }

    // No `WebSocket` option: the browser's global one is used.
    const client = Client.create(url, options.client);
    client.onStatus((next) => {
      if (active) setStatus(next);
    });
    client.on("metrics.snapshot", (message) => {
      if (active) setSnapshot(message);
    });
    client.on("*", (message) => {
      if (active && isFeedEvent(message)) {
        setEvents((recent) => [message, ...recent].slice(0, maxEvents));
      }
    });
    client.onResync((resync) => {
      // Some `topics` events were missed: the list built from them may be wrong.
      if (resync.channel === "topics") void refetchTopics();
    });
    client.onError(fail);

    void refetchTopics();
    const names = channels.split(",") as ChannelName[];
    client
      .start()
      .then(() => client.subscribe({ channels: names.map((name) => ({ name })) }))
      .catch(fail);

    return () => {
      active = false;
      aborter.abort();
      client.close();
    };
    // `options.client` is read once per connection, on purpose.
  }, [url, channels, maxEvents, topicsUrl]);

  return { snapshot, events, status, topics, error };
}
