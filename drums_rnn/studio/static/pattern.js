// drums_rnn studio: the pattern as data, without the page. Pure functions over plain arrays.
//
// A pattern is three [T][9] arrays in the grid's row order: grid (0/1), velocities (1..127 where
// there is a hit, 0 elsewhere) and offsets (fractions of a step, -0.5..0.5, where there is a hit).

export const NUM_VOICES = 9;
export const DEFAULT_VELOCITY = 100;
export const STEPS_PER_BAR = 16;

export function emptyRows(steps, fill = 0) {
  return Array.from({ length: steps }, () => new Array(NUM_VOICES).fill(fill));
}

export function copyRows(rows) { return rows.map((r) => r.slice()); }

/** `rows` cut or padded (with `fill`) to `steps`. */
export function fitRows(rows, steps, fill = 0) {
  return Array.from({ length: steps }, (_, t) => (t < rows.length ? rows[t].slice() : new Array(NUM_VOICES).fill(fill)));
}

export function starterGrid(steps) {
  // A plain rock beat in the first bar, so Generate has something to continue at once.
  const grid = emptyRows(steps);
  for (let t = 0; t < Math.min(16, steps); t++) {
    if (t % 8 === 0) grid[t][0] = 1;
    if (t % 8 === 4) grid[t][1] = 1;
    if (t % 2 === 0) grid[t][2] = 1;
  }
  if (steps > 10) grid[10][0] = 1;
  return grid;
}

export function plainVelocities(grid) { return grid.map((row) => row.map((h) => (h ? DEFAULT_VELOCITY : 0))); }

export function zeroOffsets(grid) { return emptyRows(grid.length); }

export function countHits(grid) { let n = 0; for (const row of grid) for (const h of row) n += h; return n; }

/** The lower median of a list of numbers (undefined when empty). */
export function lowerMedian(values) {
  if (!values.length) return undefined;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
}

/** The velocity a newly drawn hit of row `v` gets: its row's middle velocity in a humanized grid, else 100. */
export function newHitVelocity(pattern, v, humanized) {
  if (!humanized) return DEFAULT_VELOCITY;
  const row = [], all = [];
  pattern.grid.forEach((step, t) => step.forEach((h, w) => {
    if (!h) return;
    all.push(pattern.velocities[t][w]);
    if (w === v) row.push(pattern.velocities[t][w]);
  }));
  return lowerMedian(row) ?? lowerMedian(all) ?? DEFAULT_VELOCITY;
}

/**
 * The delay, in steps, that swing puts on step `t` (0..0.5 of a step at 16ths; at 8ths the second 8th
 * of each beat is late by 2 * swing and the 16ths either side of it move in proportion). The server's
 * MIDI writer (clips.swing_shift) does the same.
 */
export function swingShift(t, swing, unit) {
  if (unit === 8) {
    const position = t % 4;
    return position === 2 ? 2 * swing : (position === 0 ? 0 : swing);
  }
  return t % 2 === 1 ? swing : 0;
}

function sameCell(a, b, t, v) {
  return a.grid[t][v] === b.grid[t][v]
    && (!a.grid[t][v] || (a.velocities[t][v] === b.velocities[t][v] && a.offsets[t][v] === b.offsets[t][v]));
}

/**
 * A three-way merge of a server result into the pattern as it is now: `base` is what was sent,
 * `result` what came back, `current` what the page holds now (cells changed meanwhile by the user).
 * A cell the user changed since `base` keeps the user's value; every other cell takes the result's.
 * Only steps that exist in both are merged (the grid may have been resized meanwhile). Mutates and
 * returns `current`, with `kept`: how many cells the user changed that the result would have changed
 * differently.
 */
export function merge3(current, base, result) {
  const steps = Math.min(current.grid.length, result.grid.length, base.grid.length);
  let kept = 0;
  for (let t = 0; t < steps; t++) {
    for (let v = 0; v < NUM_VOICES; v++) {
      if (!sameCell(current, base, t, v)) {
        if (!sameCell(current, result, t, v)) kept += 1;
        continue;
      }
      current.grid[t][v] = result.grid[t][v];
      current.velocities[t][v] = result.grid[t][v] ? result.velocities[t][v] : 0;
      current.offsets[t][v] = result.grid[t][v] ? result.offsets[t][v] : 0;
    }
  }
  return { pattern: current, kept, steps };
}

/**
 * A result's pattern: its grid with the velocities and offsets it came with, or, when it has none,
 * the base's for hits it kept and plain ones (100, on the grid) for new hits.
 */
export function resultPattern(base, grid, velocities, offsets) {
  if (velocities && offsets) return { grid, velocities, offsets };
  const vel = grid.map((row, t) => row.map((h, v) => {
    if (!h) return 0;
    return t < base.grid.length && base.grid[t][v] ? base.velocities[t][v] : DEFAULT_VELOCITY;
  }));
  const off = grid.map((row, t) => row.map((h, v) => (h && t < base.grid.length && base.grid[t][v] ? base.offsets[t][v] : 0)));
  return { grid, velocities: vel, offsets: off };
}

/** Whether two grids differ anywhere in `voices` from step `from` on. */
export function differs(a, b, voices, from) {
  for (let t = from; t < Math.min(a.length, b.length); t++) for (const v of voices) if (a[t][v] !== b[t][v]) return true;
  return false;
}
