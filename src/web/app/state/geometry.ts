// Boxes in document pixels and how the mouse changes them: resizing from a handle (also when the
// layer is rotated: the opposite handle stays where it is on screen), rotating around the centre,
// and the scales between the document, the screen and the preview image.

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface RotatedBox extends Box {
  /** Degrees, clockwise, around the box's centre (as the renderer draws it). */
  rotation: number;
}

/** A resize handle: which side moves horizontally (-1 left, 1 right, 0 neither) and vertically. */
export interface Handle {
  sx: -1 | 0 | 1;
  sy: -1 | 0 | 1;
}

export const HANDLES: Record<string, Handle> = {
  nw: { sx: -1, sy: -1 },
  n: { sx: 0, sy: -1 },
  ne: { sx: 1, sy: -1 },
  e: { sx: 1, sy: 0 },
  se: { sx: 1, sy: 1 },
  s: { sx: 0, sy: 1 },
  sw: { sx: -1, sy: 1 },
  w: { sx: -1, sy: 0 },
};

/** Smallest box the mouse can make, in document pixels. */
const MIN_SIZE = 4;

const radians = (degrees: number) => (degrees * Math.PI) / 180;

/**
 * The box after dragging `handle` by (dx, dy) screen-aligned document pixels. The pointer's move
 * is turned into the box's own axes, the moving sides follow it, and the point opposite the
 * handle keeps its place on the canvas, so a rotated box grows the way it is pointing.
 */
export function resizeBox(start: RotatedBox, handle: Handle, dx: number, dy: number, minSize = MIN_SIZE): RotatedBox {
  const t = radians(start.rotation);
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  // The move in the box's axes.
  const lx = dx * cos + dy * sin;
  const ly = -dx * sin + dy * cos;
  const width = handle.sx === 0 ? start.width : Math.max(minSize, start.width + handle.sx * lx);
  const height = handle.sy === 0 ? start.height : Math.max(minSize, start.height + handle.sy * ly);
  // The anchor (opposite the handle) in canvas coordinates stays fixed.
  const cx = start.x + start.width / 2;
  const cy = start.y + start.height / 2;
  const ax = (-handle.sx * start.width) / 2;
  const ay = (-handle.sy * start.height) / 2;
  const anchorX = cx + ax * cos - ay * sin;
  const anchorY = cy + ax * sin + ay * cos;
  const bx = (-handle.sx * width) / 2;
  const by = (-handle.sy * height) / 2;
  const ncx = anchorX - (bx * cos - by * sin);
  const ncy = anchorY - (bx * sin + by * cos);
  return { x: ncx - width / 2, y: ncy - height / 2, width, height, rotation: start.rotation };
}

/**
 * The rotation that points the box's top (where the rotate handle is) at the pointer, in degrees
 * within (-180, 180]; with `step`, rounded to a multiple of it (Shift: 15°).
 */
export function rotationTowards(box: Box, pointerX: number, pointerY: number, step = 0): number {
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  let degrees = (Math.atan2(pointerY - cy, pointerX - cx) * 180) / Math.PI + 90;
  if (step > 0) degrees = Math.round(degrees / step) * step;
  return normaliseDegrees(degrees);
}

export function normaliseDegrees(degrees: number): number {
  let d = degrees % 360;
  if (d > 180) d -= 360;
  if (d <= -180) d += 360;
  return Math.round(d * 10) / 10 || 0;
}

/** Whole pixels, as a designer types them. */
export function roundBox<T extends Box>(box: T): T {
  return {
    ...box,
    x: Math.round(box.x),
    y: Math.round(box.y),
    width: Math.round(box.width),
    height: Math.round(box.height),
  };
}

/** How many screen pixels one document pixel takes to fit the canvas in the space (never above 1). */
export function fitScale(docWidth: number, docHeight: number, spaceWidth: number, spaceHeight: number): number {
  if (spaceWidth <= 0 || spaceHeight <= 0) return 1;
  return Math.min(1, spaceWidth / docWidth, spaceHeight / docHeight);
}

/**
 * The scale to ask the preview at: as many image pixels as the screen shows (device pixels), no
 * more than the document itself, no less than the API's 0.1; two decimals, so that small changes
 * of the window do not ask for a new image.
 */
export function previewScale(docWidth: number, displayWidth: number, devicePixelRatio: number): number {
  const wanted = (displayWidth * devicePixelRatio) / docWidth;
  return Math.min(1, Math.max(0.1, Math.ceil(wanted * 100) / 100));
}
