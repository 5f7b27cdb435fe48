// The generated TypeScript client against the reference console server, through a proxy
// the test can cut. Run by tests/sdk/test_typescript_client.py, which sets the URLs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import {
  Client,
  RequestTimeoutError,
  ServerError,
  StreamOverflowError,
  isTopicCreated,
  type ClientStatus,
  type MessageKey,
  type MessageOf,
  type ResyncEvent,
  type ServerMessage,
  type TopicCreated,
} from "../pkg/src/index.js";
import { createValidator } from "../pkg/src/validate.js";

const WS_URL = required("SPECWIRE_WS_URL");
const CONTROL_URL = required("SPECWIRE_CONTROL_URL");
const WAIT_MS = 5_000;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Ask the test driver to act: create a topic, cut the proxy, restart the server. */
async function control(path: string): Promise<void> {
  const response = await fetch(new URL(path, CONTROL_URL), { method: "POST" });
  assert.equal(response.status, 200, `${path}: ${await response.text()}`);
}

/** Resolves with the first value `predicate` accepts among what `subscribe` feeds it. */
function waitFor<T>(
  what: string,
  subscribe: (push: (value: T) => void) => () => void,
  predicate: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}`));
    }, WAIT_MS);
    const off = subscribe((value) => {
      if (!predicate(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

/** The next message of `type` that `predicate` accepts. */
function next<K extends MessageKey>(
  type: K,
  predicate: (message: MessageOf<K>) => boolean = () => true,
): Promise<MessageOf<K>> {
  return waitFor<MessageOf<K>>(String(type), (push) => client.on(type, push), predicate);
}

let client: Client;
const created: TopicCreated[] = [];
const resyncs: ResyncEvent[] = [];
const statuses: ClientStatus[] = [];
const errors: unknown[] = [];

let welcome: Promise<ServerMessage>;

before(async () => {
  client = Client.create(WS_URL, {
    WebSocket,
    reconnect: { initialMs: 20, maxMs: 200 },
    heartbeatIntervalMs: 500,
    heartbeatTimeoutMs: 2_000,
    requestTimeoutMs: 3_000,
    validate: createValidator(),
  });
  client.on("topic.created", (message) => created.push(message));
  client.onResync((event) => resyncs.push(event));
  client.onStatus((status) => statuses.push(status));
  client.onError((error) => errors.push(error));
  welcome = next("*", (m: ServerMessage) => m.type === "welcome");
  await client.start();
});

after(() => {
  client.close();
  assert.deepEqual(errors, [], "no frame was rejected, no handler threw");
});

test("typed snapshot and events", async () => {
  assert.equal((await welcome).type, "welcome");
  const snapshot = next("metrics.snapshot");
  const reply = await client.subscribe({ channels: [{ name: "metrics" }, { name: "topics" }] });
  assert.equal(reply.type, "subscribed");
  assert.deepEqual(reply.channels.map((c) => c.name), ["metrics", "topics"]);
  assert.ok((await snapshot).cluster, "a snapshot has cluster figures");

  const event = next("topic.created", (m) => m.topic.name === "ts-a");
  await control("/topics/ts-a");
  const message = await event;
  assert.ok(isTopicCreated(message));
  assert.equal(message.channel, "topics");
  assert.equal(typeof message.seq, "number");
});

test("request and reply, typed error, async iteration", async () => {
  const pong = await client.ping({ timestamp_ms: 42 });
  assert.equal(pong.client_timestamp_ms, 42);
  await assert.rejects(client.subscribe({ channels: [{ name: "topics" }, { name: "topics" }] }), (error) => {
    assert.ok(error instanceof ServerError);
    assert.equal(error.error.code, "invalid_message");
    assert.equal(error.error.details?.[0]?.path, "/channels/1/name");
    return true;
  });
  assert.ok(new RequestTimeoutError({ type: "ping", id: "x" }, 1) instanceof Error);

  const stream = client.stream("topic.created");
  await control("/topics/ts-iter");
  for await (const message of stream) {
    if (message.topic.name === "ts-iter") break;
  }
});

test("a stream whose loop falls behind gets what it held, then StreamOverflowError", async () => {
  assert.throws(() => Client.create(WS_URL, { WebSocket, maxBuffered: 0 }), RangeError);
  const small = Client.create(WS_URL, { WebSocket, reconnect: false, maxBuffered: 2, validate: createValidator() });
  try {
    await small.start();
    await small.subscribe({ channels: [{ name: "topics" }] });
    const stream = small.stream("topic.created");
    const third = waitFor<MessageOf<"topic.created">>(
      "ts-over-3",
      (push) => small.on("topic.created", push),
      (m) => m.topic.name === "ts-over-3",
    );
    for (const name of ["ts-over-1", "ts-over-2", "ts-over-3"]) await control(`/topics/${name}`);
    await third;
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const message of stream) seen.push(message.topic.name);
      })(),
      (error) => error instanceof StreamOverflowError && error.limit === 2,
    );
    assert.deepEqual(seen, ["ts-over-1", "ts-over-2"]);
    assert.deepEqual(await stream.next(), { value: undefined, done: true }, "then it stays ended");
  } finally {
    small.close();
  }
});

test("a cut connection resumes: every missed event exactly once, in order", async () => {
  const before = created.length;
  const reopened = waitFor<ClientStatus>("reconnection", (push) => client.onStatus(push), (s) => s === "open");
  await control("/cut?hold=1");
  for (const name of ["ts-b", "ts-c", "ts-d"]) await control(`/topics/${name}`);
  await control("/restore");
  await reopened;
  const last = next("topic.created", (m) => m.topic.name === "ts-e");
  await control("/topics/ts-e");
  await last;
  const names = created.slice(before).map((m) => m.topic.name);
  assert.deepEqual(names, ["ts-b", "ts-c", "ts-d", "ts-e"]);
  const seqs = created.map((m) => m.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "seq increases");
  assert.equal(new Set(seqs).size, seqs.length, "no duplicate");
  assert.ok(statuses.includes("reconnecting"));
  assert.deepEqual(resyncs, []);
});

test("a restarted server (new epoch) asks for a resync", async () => {
  const resync = waitFor<ResyncEvent>("resync", (push) => client.onResync(push));
  const epoch = created.at(-1)?.epoch;
  await control("/restart");
  const event = await resync;
  assert.equal(event.channel, "topics");
  assert.equal(event.reason, "not-recovered");
  assert.equal(event.previous?.epoch, epoch);
  assert.notEqual(event.current?.epoch, epoch);
  const after = next("topic.created", (m) => m.topic.name === "ts-f");
  await control("/topics/ts-f");
  assert.notEqual((await after).epoch, epoch);
});
