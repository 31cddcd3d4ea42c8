// Real GraphQL clients for tests: graphql-ws over `ws`, graphql-sse (distinct connections, the
// protocol yoga's built-in SSE speaks), and plain HTTP.
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import type { Stack } from "./stack.js";

export function wsClient(
  stack: Stack,
  apiKey: string | null,
  extra: { onClose?: (code: number) => void } = {},
): Client {
  return createWsClient({
    url: `${stack.baseUrl.replace("http", "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => extra.onClose?.((event as { code: number }).code) },
  });
}

export function sseClient(stack: Stack, apiKey: string) {
  return createSseClient({
    url: `${stack.baseUrl}/graphql`,
    headers: { authorization: `Bearer ${apiKey}` },
    retryAttempts: 0,
  });
}

export type Result = { data?: any; errors?: any[] };

/** Collects every result of a subscription until it completes (or errors). */
export function collect(
  subscribe: (sink: { next: (r: Result) => void; error: (e: unknown) => void; complete: () => void }) => () => void,
  onNext?: (r: Result, all: Result[]) => void,
): { done: Promise<Result[]>; results: Result[]; stop: () => void } {
  const results: Result[] = [];
  let stop = () => {};
  const done = new Promise<Result[]>((resolve, reject) => {
    stop = subscribe({
      next: (r) => {
        results.push(r);
        onNext?.(r, results);
      },
      error: reject,
      complete: () => resolve(results),
    });
  });
  return { done, results, stop: () => stop() };
}

export const gqlHttp = (stack: Stack, apiKey: string | null, query: string, variables: Record<string, unknown> = {}) =>
  stack.api(apiKey, "POST", "/graphql", { query, variables });
