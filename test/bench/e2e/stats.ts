// Small numeric helpers shared by the end-to-end benchmark.

/** Sorted copy. */
export const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** Nearest-rank quantile (as test/bench/render.bench.ts computes its p99). */
export function quantile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

export const round = (v: number, digits = 1) => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);

export interface Summary {
  n: number;
  median_ms: number;
  p99_ms: number;
  max_ms: number;
}

export function summarize(xs: number[], digits = 2): Summary {
  return {
    n: xs.length,
    median_ms: round(quantile(xs, 0.5), digits),
    p99_ms: round(quantile(xs, 0.99), digits),
    max_ms: round(quantile(xs, 1), digits),
  };
}
