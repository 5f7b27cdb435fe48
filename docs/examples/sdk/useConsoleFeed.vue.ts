// A Vue 3 composable over the console feed, with the generated TypeScript client and the
// browser's WebSocket: the latest snapshot, the recent events and the connection status.
//
//   const { snapshot, events, status, topics } = useConsoleFeed("wss://console.example.com/ws");
//
// Call it in a component's `setup`: the connection closes when the component unmounts.
// The client reconnects and resubscribes by itself. When it reports that events of
// `topics` were missed (a resync), the composable fetches the topic list again.
import { onUnmounted, ref, shallowRef, type Ref, type ShallowRef } from "vue";
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
  /** Where the topic list is fetched, at once and after a resync of `topics`. */
  topicsUrl?: string;
  /** Options of the client (token, reconnect, heartbeat...). */
  client?: Omit<ClientOptions, "WebSocket">;
}

export interface ConsoleFeed {
  // Shallow: a snapshot or an event is replaced as a whole, never changed in place.
  snapshot: ShallowRef<MetricsSnapshot | null>;
  events: ShallowRef<FeedEvent[]>;
  status: Ref<ClientStatus>;
  topics: ShallowRef<TopicView[] | null>;
  /** The last thing that went wrong: the first connection, a request, a fetch. */
  error: ShallowRef<Error | null>;
}

const ALL_CHANNELS: readonly ChannelName[] = ["metrics", "topics", "groups", "cluster"];

function isFeedEvent(message: ServerMessage): message is FeedEvent {
  return "channel" in message && message.channel !== "metrics";
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function useConsoleFeed(url: string, options: ConsoleFeedOptions = {}): ConsoleFeed {
  const snapshot = shallowRef<MetricsSnapshot | null>(null);
  const events = shallowRef<FeedEvent[]>([]);
  const status = ref<ClientStatus>("connecting");
  const topics = shallowRef<TopicView[] | null>(null);
  const error = shallowRef<Error | null>(null);
  const maxEvents = options.maxEvents ?? 50;
  const topicsUrl = options.topicsUrl ?? "/api/topics";
  const aborter = new AbortController();
  const fail = (reason: unknown): void => {
    error.value = asError(reason);
  };

  async function refetchTopics(): Promise<void> {
    try {
      const response = await fetch(topicsUrl, { signal: aborter.signal });
      if (!response.ok) throw new Error(`GET ${topicsUrl}: HTTP ${response.status}`);
      topics.value = (await response.json()) as TopicView[];
    } catch (reason) {
      if (!aborter.signal.aborted) fail(reason);
    }
  }

  // No `WebSocket` option: the browser's global one is used.
  const client = Client.create(url, options.client);
  client.onStatus((next) => {
    status.value = next;
  });
  client.on("metrics.snapshot", (message) => {
    snapshot.value = message;
  });
  client.on("*", (message) => {
    if (isFeedEvent(message)) events.value = [message, ...events.value].slice(0, maxEvents);
  });
  client.onResync((resync) => {
    // Some `topics` events were missed: the list built from them may be wrong.
    if (resync.channel === "topics") void refetchTopics();
  });
  client.onError(fail);

  onUnmounted(() => {
    aborter.abort();
    client.close();
  });

  void refetchTopics();
  const channels = options.channels ?? ALL_CHANNELS;
  client
    .start()
    .then(() => client.subscribe({ channels: channels.map((name) => ({ name })) }))
    .catch((reason: unknown) => {
      if (!aborter.signal.aborted) fail(reason);
    });

  return { snapshot, events, status, topics, error };
}
