// Snapping a moving box to the canvas's edges and centre and to the other layers' edges and
// centres. Each axis snaps on its own, to the nearest line within the threshold; the lines it
// snapped to come back as guides for the canvas to draw.
import type { Box, Handle } from "./geometry.js";

export interface Guides {
  /** x positions of vertical guide lines (document pixels). */
  vertical: number[];
  /** y positions of horizontal guide lines. */
  horizontal: number[];
}

export interface Snapped {
  x: number;
  y: number;
  guides: Guides;
}

/** The lines a box offers to others: its two edges and its centre, per axis. */
function lines(box: Box): { xs: number[]; ys: number[] } {
  return {
    xs: [box.x, box.x + box.width / 2, box.x + box.width],
    ys: [box.y, box.y + box.height / 2, box.y + box.height],
  };
}

/** Where the canvas and the other (visible, unrotated or not) layers offer lines to snap to. */
export function snapTargets(
  canvas: { width: number; height: number },
  others: readonly Box[],
): { xs: number[]; ys: number[] } {
  const xs = [0, canvas.width / 2, canvas.width];
  const ys = [0, canvas.height / 2, canvas.height];
  for (const box of others) {
    const l = lines(box);
    xs.push(...l.xs);
    ys.push(...l.ys);
  }
  return { xs, ys };
}

/** The offset that moves one of `own` onto the nearest of `targets` within `threshold`, or null. */
function nearest(own: number[], targets: number[], threshold: number): { offset: number; line: number } | null {
  let best: { offset: number; line: number } | null = null;
  for (const target of targets)
    for (const value of own) {
      const offset = target - value;
      if (Math.abs(offset) <= threshold && (best === null || Math.abs(offset) < Math.abs(best.offset)))
        best = { offset, line: target };
    }
  return best;
}

/** The box moved to (x, y), then pulled onto the nearest lines within `threshold` document pixels. */
export function snapMove(box: Box, targets: { xs: number[]; ys: number[] }, threshold: number): Snapped {
  const own = lines(box);
  const sx = nearest(own.xs, targets.xs, threshold);
  const sy = nearest(own.ys, targets.ys, threshold);
  return {
    x: box.x + (sx?.offset ?? 0),
    y: box.y + (sy?.offset ?? 0),
    guides: { vertical: sx ? [sx.line] : [], horizontal: sy ? [sy.line] : [] },
  };
}

/** One value (a resized edge) pulled onto the nearest line within `threshold`. */
export function snapValue(value: number, targets: number[], threshold: number): { value: number; line: number | null } {
  const hit = nearest([value], targets, threshold);
  return hit ? { value: value + hit.offset, line: hit.line } : { value, line: null };
}

/**
 * A box being resized from `handle` (unrotated): each side that moves is pulled onto the nearest
 * line within `threshold`; the opposite side stays put.
 */
export function snapResize(
  box: Box,
  handle: Handle,
  targets: { xs: number[]; ys: number[] },
  threshold: number,
): { box: Box; guides: Guides } {
  let { x, y, width, height } = box;
  const guides: Guides = { vertical: [], horizontal: [] };
  if (handle.sx !== 0) {
    const edge = handle.sx === 1 ? x + width : x;
    const hit = snapValue(edge, targets.xs, threshold);
    if (hit.line !== null) {
      guides.vertical.push(hit.line);
      if (handle.sx === 1) width = hit.value - x;
      else {
        width += x - hit.value;
        x = hit.value;
      }
    }
  }
  if (handle.sy !== 0) {
    const edge = handle.sy === 1 ? y + height : y;
    const hit = snapValue(edge, targets.ys, threshold);
    if (hit.line !== null) {
      guides.horizontal.push(hit.line);
      if (handle.sy === 1) height = hit.value - y;
      else {
        height += y - hit.value;
        y = hit.value;
      }
    }
  }
  // Never snap a box down to nothing: keep the unsnapped size then.
  if (width < 1 || height < 1) return { box, guides: { vertical: [], horizontal: [] } };
  return { box: { x, y, width, height }, guides };
}

export const NO_GUIDES: Guides = { vertical: [], horizontal: [] };
