// What a security review of the key, rate-limit and WebSocket work found, each kept fixed: a
// request target that crashed the process, unbounded WebSocket messages before authentication, a
// revoked key's socket that kept running operations while ignoring the close, SSE streams that
// escaped revocation without an Accept header, repeated GraphQL GET parameters, a syntax error
// that closed a whole WebSocket, cursors PostgreSQL cannot store, and per-address buckets.
import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createApiKey, revokeApiKey } from "../src/auth/api-keys.js";
import { bucketOf } from "../src/http/auth.js";
import { startStack, type Stack } from "./helpers/stack.js";
import { until } from "./helpers/wait.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(
    { RATE_LIMIT_MAX: "0", KEY_RECHECK_MS: "200", BODY_LIMIT_BYTES: "65536" },
    { api: true, worker: false },
  );
});
afterAll(() => stack.stop());

const port = () => Number(new URL(stack.baseUrl).port);
const health = async () => (await fetch(`${stack.baseUrl}/health`)).status;

/** Sends raw bytes and resolves with everything the server answered before closing. */
function rawExchange(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port(), "127.0.0.1");
    let answer = "";
    socket.on("data", (d) => (answer += d.toString("latin1")));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
    socket.end(bytes);
  });
}

/** A client-to-server WebSocket text frame (masked, as RFC 6455 requires of clients). */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([header, mask, body]);
}

/**
 * A graphql-ws client that speaks the protocol by hand over a TCP socket and never answers a close
 * frame: what a hostile client does to keep a revoked socket alive.
 */
async function stubbornSocket(
  apiKey: string,
): Promise<{ send: (msg: unknown) => void; received: () => string; ended: Promise<void> }> {
  const socket = net.connect(port(), "127.0.0.1");
  let received = "";
  const ended = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("data", (d) => (received += d.toString("latin1")));
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    [
      "GET /graphql HTTP/1.1",
      "Host: 127.0.0.1",
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Protocol: graphql-transport-ws",
      "",
      "",
    ].join("\r\n"),
  );
  await until(
    () => received,
    (r) => r.includes("101 Switching Protocols"),
  );
  const send = (msg: unknown) => socket.write(textFrame(JSON.stringify(msg)));
  send({ type: "connection_init", payload: { authorization: `Bearer ${apiKey}` } });
  await until(
    () => received,
    (r) => r.includes("connection_ack"),
  );
  return { send, received: () => received, ended };
}

describe("the WebSocket upgrade", () => {
  it("survives request targets that are not URLs (once a crash of the whole process)", async () => {
    for (const target of ["//[", "//[::1", "http://[", "/%", "//", "/graphql/..", "*"]) {
      const answer = await rawExchange(
        `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      expect(answer, target).not.toContain("101 Switching Protocols");
      expect(await health()).toBe(200);
    }
  });

  it("refuses a message larger than BODY_LIMIT_BYTES before authentication (close 1009)", async () => {
    const ws = new WebSocket(`${stack.baseUrl.replace("http", "ws")}/graphql`, "graphql-transport-ws");
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: "x".repeat(200_000) } }));
    expect(await closed).toBe(1009);
    expect(await health()).toBe(200);
  });
});

describe("a revoked key's connections", () => {
  it("run nothing more even when the client ignores the close, and are cut soon after", async () => {
    const { orgId } = await stack.createOrg(100);
    const { key, view } = await createApiKey(stack.app.ctx.prisma, orgId, "stubborn");
    const client = await stubbornSocket(key);
    await revokeApiKey(stack.app.ctx.prisma, view.key_id);
    // The server says 4403 (a close frame, 0x88, whose code is 0x1133) ...
    await until(client.received, (r) => r.includes("\u0088") && r.includes("\u0011\u0033"));
    // ... the client ignores it and tries to create something.
    client.send({
      id: "1",
      type: "subscribe",
      payload: {
        query: `mutation { createTemplate(name: "after-revoke", document: { width: 10, height: 10, background: "#ffffff" }) { __typename } }`,
      },
    });
    await client.ended;
    const created = await stack.app.ctx.prisma.template.count({ where: { orgId, name: "after-revoke" } });
    expect(created).toBe(0);
  });

  it("close SSE subscriptions whatever the Accept header", async () => {
    const { orgId } = await stack.createOrg(0);
    const { key, view } = await createApiKey(stack.app.ctx.prisma, orgId, "sse");
    const res = await fetch(`${stack.baseUrl}/graphql`, {
      method: "POST",
      // No Accept header: fetch sends */*, for which yoga streams a subscription as SSE.
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ query: "subscription { jobUpdates { id } }" }),
    });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const ended = (async () => {
      try {
        for (;;) if ((await reader.read()).done) return "ended";
      } catch {
        return "ended";
      }
    })();
    await revokeApiKey(stack.app.ctx.prisma, view.key_id);
    expect(await ended).toBe("ended");
  });
});

describe("GraphQL input that once reached an internal error", () => {
  it("refuses repeated GET parameters with 400 instead of checking one and running another", async () => {
    const deep = `{${"a{".repeat(300)}b${"}".repeat(300)}}`; // deeper than the 200 levels allowed
    for (const qs of [
      `query=${encodeURIComponent(deep)}&query=x`,
      `query=${encodeURIComponent("{__typename}")}&variables=${encodeURIComponent("{bad")}&variables=x`,
      `query=${encodeURIComponent("{__typename}")}&extensions=${encodeURIComponent("{bad")}&extensions=x`,
    ]) {
      const res = await stack.api(null, "GET", `/graphql?${qs}`, undefined, { accept: "application/json" });
      expect(res.status, qs.slice(0, 40)).toBe(400);
      expect(res.body.errors[0].message).toMatch(/repeated/);
    }
  });

  it("answers a syntax error over a WebSocket for that operation only; the connection goes on", async () => {
    const { apiKey } = await stack.createOrg(0);
    const ws = new WebSocket(`${stack.baseUrl.replace("http", "ws")}/graphql`, "graphql-transport-ws");
    const messages: any[] = [];
    ws.on("message", (m: Buffer) => messages.push(JSON.parse(m.toString("utf8"))));
    await new Promise<void>((resolve) => ws.once("open", () => resolve()));
    ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${apiKey}` } }));
    await until(
      () => messages,
      (m) => m.some((x) => x.type === "connection_ack"),
    );
    ws.send(JSON.stringify({ id: "bad", type: "subscribe", payload: { query: "{ viewer { " } }));
    ws.send(
      JSON.stringify({ id: "good", type: "subscribe", payload: { query: "{ viewer { organization { id } } }" } }),
    );
    await until(
      () => messages,
      (m) => m.some((x) => x.id === "good" && x.type === "complete"),
    );
    expect(messages.find((x) => x.id === "bad")?.type).toBe("error");
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it("refuses cursors whose date PostgreSQL cannot store, on REST and GraphQL", async () => {
    const { apiKey } = await stack.createOrg(0);
    for (const raw of [
      "-004714-01-01T00:00:00.000Z|led_x",
      "275760-09-13T00:00:00.000Z|led_x",
      "2026-01-01|led_x",
      "2026-01-01T00:00:00.000Z|bad id",
    ]) {
      const cursor = Buffer.from(raw).toString("base64url");
      for (const route of ["/api/v1/billing/ledger", "/api/v1/templates", "/api/v1/design-groups"]) {
        const res = await stack.api(apiKey, "GET", `${route}?cursor=${cursor}`);
        expect(res.status, `${route} ${raw}`).toBe(400);
      }
      const gql = await stack.api(apiKey, "POST", "/graphql", {
        query: `{ jobs(after: "${cursor}") { edges { node { id } } } }`,
      });
      expect(JSON.stringify(gql.body), raw).not.toMatch(/INTERNAL_SERVER_ERROR/);
    }
  });
});

describe("rate-limit buckets of requests without a key", () => {
  it("puts an IPv6 client's /64 in one bucket and IPv4-mapped addresses with IPv4", () => {
    expect(bucketOf(null, "2001:db8:1:2:aaaa::1")).toBe(bucketOf(null, "2001:0db8:0001:0002:ffff:ffff:ffff:ffff"));
    expect(bucketOf(null, "2001:db8:1:2::1")).not.toBe(bucketOf(null, "2001:db8:1:3::1"));
    expect(bucketOf(null, "::ffff:192.0.2.7")).toBe(bucketOf(null, "192.0.2.7"));
    expect(bucketOf(null, "192.0.2.7")).not.toBe(bucketOf(null, "192.0.2.8"));
    expect(bucketOf({ orgId: "org_a", apiKeyId: "key_a" }, "192.0.2.7")).toBe("key:key_a");
  });
});
