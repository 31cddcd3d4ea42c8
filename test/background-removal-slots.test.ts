// The background-removal engine's slots: at most `limit` at once, handed out round-robin between
// organisations (first come, first served within one), and a waiter that passes its deadline or
// is aborted leaves without ever running and without blocking those behind it.
import { describe, expect, it } from "vitest";
import { Slots } from "../src/render/background-removal/slots.js";

const timeout = () => new Error("timeout");
const aborted = () => new Error("aborted");

/** Acquire for `key` and record the order in which keys were granted. */
function queue(slots: Slots, order: string[], key: string, deadline?: number, signal?: AbortSignal) {
  return slots.acquire(key, deadline, signal, timeout, aborted).then((release) => {
    order.push(key);
    return release;
  });
}

describe("background removal slots", () => {
  it("serve waiting organisations in turn: one batch does not make another wait for all of it", async () => {
    const slots = new Slots(1);
    const order: string[] = [];
    const first = await queue(slots, order, "a");
    // Each waiter runs and gives its slot back as soon as it gets it.
    const waits = ["a", "a", "a", "b", "c"].map((key) => queue(slots, order, key).then((release) => release()));
    expect(slots.waiting).toBe(5);
    first();
    await Promise.all(waits);
    expect(order).toEqual(["a", "a", "b", "c", "a", "a"]);
    expect(slots.active).toBe(0);
    expect(slots.peakRunning).toBe(1);
  });

  it("run up to the limit at once and keep the rest waiting", async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    const [r1, r2] = await Promise.all([queue(slots, order, "a"), queue(slots, order, "a")]);
    const third = queue(slots, order, "b");
    expect(slots.active).toBe(2);
    expect(slots.waiting).toBe(1);
    r1();
    r1(); // a second release changes nothing
    (await third)();
    r2();
    expect(slots.active).toBe(0);
  });

  it("let a waiter leave at its deadline or abort, and serve the next one", async () => {
    const slots = new Slots(1);
    const order: string[] = [];
    const held = await queue(slots, order, "a");
    const late = queue(slots, order, "b", Date.now() + 20);
    const controller = new AbortController();
    const gone = queue(slots, order, "c", undefined, controller.signal);
    const next = queue(slots, order, "d");
    await expect(late).rejects.toThrow("timeout");
    controller.abort();
    await expect(gone).rejects.toThrow("aborted");
    expect(slots.waiting).toBe(1);
    held();
    (await next)();
    expect(order).toEqual(["a", "d"]);
    // Past deadline or aborted before asking: refused at once, nothing queued.
    await expect(queue(slots, order, "e", Date.now() - 1)).rejects.toThrow("timeout");
    await expect(queue(slots, order, "e", undefined, AbortSignal.abort())).rejects.toThrow("aborted");
    expect(slots.waiting).toBe(0);
  });
});
