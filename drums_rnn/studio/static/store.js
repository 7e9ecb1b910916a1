// drums_rnn studio: a pattern as a document. The same document is the saved file (.drums.json), the
// page's state kept in localStorage across reloads, and (packed) the shareable link's #fragment.
//
//   {format, version, bars, qpm, swing, swing_unit, seed_step, humanized,
//    grid [T][9] 0/1, velocities [T][9], offsets [T][9], mute [9], solo [9], locked_rows [9], locked_bars [..],
//    style, density, fill_bars [..]}
//
// style (a style name or null: any), density (a density bin or null: any) and fill_bars (the bar indices
// asked to be fills) are what a model with controls is asked for; a model without controls ignores them
// (and a style or bin the loaded model does not know reads as "any"). Documents from before have none.
//
// A document from outside (a file, a link, an old localStorage) is checked field by field
// (`checkDoc`): a bad one is refused with a message naming the field, never half loaded.

export const FORMAT = 'drums_rnn_studio/pattern';
export const VERSION = 1;
export const STORAGE_KEY = 'drums_rnn_studio';
const NUM_VOICES = 9;
const MAX_BARS = 8;

function fail(message) { throw new Error(`not a drums_rnn studio pattern: ${message}`); }

function rows(value, name, steps, check) {
  if (!Array.isArray(value) || value.length !== steps) fail(`"${name}" must have ${steps} steps`);
  value.forEach((step, t) => {
    if (!Array.isArray(step) || step.length !== NUM_VOICES) fail(`"${name}" step ${t} must have ${NUM_VOICES} values`);
    step.forEach((x) => { if (!check(x)) fail(`"${name}" step ${t} holds ${JSON.stringify(x)}`); });
  });
  return value.map((s) => s.slice());
}

function flags(value, name, length) {
  if (value === undefined) return new Array(length).fill(false);
  if (!Array.isArray(value) || value.length !== length || !value.every((x) => typeof x === 'boolean')) {
    fail(`"${name}" must be ${length} true/false values`);
  }
  return value.slice();
}

function number(value, name, low, high, fallback) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < low || value > high) {
    fail(`"${name}" must be a number in ${low}..${high}`);
  }
  return value;
}

/** The checked document (a copy), or an Error whose message names what is wrong. */
export function checkDoc(doc) {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) fail('not a JSON object');
  if (doc.format !== FORMAT) fail(`"format" must be "${FORMAT}"`);
  if (doc.version !== VERSION) fail(`version ${JSON.stringify(doc.version)} is not ${VERSION}`);
  const bars = number(doc.bars, 'bars', 1, MAX_BARS);
  if (!Number.isInteger(bars)) fail('"bars" must be a whole number');
  const steps = bars * 16;
  const grid = rows(doc.grid, 'grid', steps, (x) => x === 0 || x === 1);
  const velocities = rows(doc.velocities, 'velocities', steps, (x) => Number.isInteger(x) && x >= 0 && x <= 127);
  const offsets = rows(doc.offsets, 'offsets', steps, (x) => typeof x === 'number' && x >= -0.5 && x <= 0.5);
  grid.forEach((step, t) => step.forEach((h, v) => {
    if (h && !velocities[t][v]) velocities[t][v] = 100;
    if (!h) { velocities[t][v] = 0; offsets[t][v] = 0; }
  }));
  const seedStep = number(doc.seed_step, 'seed_step', 1, steps - 1, Math.min(16, steps - 1));
  const lockedBars = doc.locked_bars === undefined ? [] : doc.locked_bars;
  if (!Array.isArray(lockedBars) || !lockedBars.every((b) => Number.isInteger(b) && b >= 0 && b < bars)) {
    fail(`"locked_bars" must be bar indices 0..${bars - 1}`);
  }
  const unit = doc.swing_unit === undefined ? 16 : doc.swing_unit;
  if (unit !== 8 && unit !== 16) fail('"swing_unit" must be 8 or 16');
  if (doc.humanized !== undefined && typeof doc.humanized !== 'boolean') fail('"humanized" must be true or false');
  const style = doc.style === undefined ? null : doc.style;
  if (style !== null && (typeof style !== 'string' || !/^[a-z0-9_-]{1,40}$/.test(style))) fail('"style" must be a style name or null');
  const density = doc.density === undefined ? null : doc.density;
  if (density !== null && !(Number.isInteger(density) && density >= 0 && density < 64)) fail('"density" must be a density bin or null');
  const fillBars = doc.fill_bars === undefined ? [] : doc.fill_bars;
  if (!Array.isArray(fillBars) || !fillBars.every((b) => Number.isInteger(b) && b >= 0 && b < bars)) {
    fail(`"fill_bars" must be bar indices 0..${bars - 1}`);
  }
  return {
    format: FORMAT, version: VERSION, bars, qpm: number(doc.qpm, 'qpm', 40, 240, 120),
    swing: number(doc.swing, 'swing', 0, 0.5, 0), swing_unit: unit, seed_step: Math.round(seedStep),
    humanized: Boolean(doc.humanized), grid, velocities, offsets,
    mute: flags(doc.mute, 'mute', NUM_VOICES), solo: flags(doc.solo, 'solo', NUM_VOICES),
    locked_rows: flags(doc.locked_rows, 'locked_rows', NUM_VOICES), locked_bars: lockedBars.slice(),
    style, density, fill_bars: [...new Set(fillBars)].sort((a, b) => a - b),
  };
}

// --- the link: the document packed into base64url ----------------------------------------------

function toBase64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text) {
  const plain = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}

/** The document as a short string for a URL fragment: hits as bits, velocities and offsets per hit. */
export function packDoc(doc) {
  const steps = doc.grid.length;
  const bits = new Uint8Array(steps * 2);
  const vel = [], off = [];
  doc.grid.forEach((step, t) => step.forEach((h, v) => {
    if (!h) return;
    const bit = t * NUM_VOICES + v;
    bits[bit >> 3] |= 1 << (bit & 7);
    vel.push(doc.velocities[t][v]);
    off.push(Math.round(doc.offsets[t][v] * 250) & 0xFF);
  }));
  const head = { b: doc.bars, q: doc.qpm, s: doc.swing, u: doc.swing_unit, m: doc.seed_step, h: doc.humanized ? 1 : 0,
                 x: [doc.mute, doc.solo, doc.locked_rows].map((f) => f.reduce((a, on, i) => a | ((on ? 1 : 0) << i), 0)),
                 l: doc.locked_bars, st: doc.style, de: doc.density, f: doc.fill_bars };
  return [toBase64url(new TextEncoder().encode(JSON.stringify(head))), toBase64url(bits.subarray(0, Math.ceil(steps * NUM_VOICES / 8))),
          toBase64url(Uint8Array.from(vel)), toBase64url(Uint8Array.from(off))].join('.');
}

export function unpackDoc(text) {
  const parts = text.split('.');
  if (parts.length !== 4) fail('the link is cut short');
  let head, bits, vel, off;
  try {
    head = JSON.parse(new TextDecoder().decode(fromBase64url(parts[0])));
    [bits, vel, off] = parts.slice(1).map(fromBase64url);
  } catch (e) {
    fail('the link is damaged');
  }
  const steps = head.b * 16;
  if (!Number.isInteger(steps) || steps < 16 || steps > MAX_BARS * 16) fail('the link holds no bar count');
  const grid = [], velocities = [], offsets = [];
  let k = 0;
  for (let t = 0; t < steps; t++) {
    grid.push([]); velocities.push([]); offsets.push([]);
    for (let v = 0; v < NUM_VOICES; v++) {
      const bit = t * NUM_VOICES + v;
      const h = bit >> 3 < bits.length && (bits[bit >> 3] >> (bit & 7)) & 1;
      grid[t].push(h ? 1 : 0);
      velocities[t].push(h ? vel[k] : 0);
      offsets[t].push(h ? ((off[k] << 24) >> 24) / 250 : 0);
      if (h) k += 1;
    }
  }
  if (k > vel.length || k > off.length) fail('the link is cut short');
  const unflag = (n) => Array.from({ length: NUM_VOICES }, (_, i) => Boolean((n >> i) & 1));
  const x = Array.isArray(head.x) && head.x.length === 3 ? head.x : [0, 0, 0];
  return checkDoc({ format: FORMAT, version: VERSION, bars: head.b, qpm: head.q, swing: head.s, swing_unit: head.u,
                    seed_step: head.m, humanized: head.h === 1, grid, velocities, offsets,
                    mute: unflag(x[0]), solo: unflag(x[1]), locked_rows: unflag(x[2]), locked_bars: head.l,
                    style: head.st, density: head.de, fill_bars: head.f });
}

// --- localStorage ------------------------------------------------------------------------------

export function loadStored() {
  try {
    const text = localStorage.getItem(STORAGE_KEY);
    return text ? JSON.parse(text) : null;
  } catch (e) {
    return null;
  }
}

export function store(value) {
  try { localStorage.setItem(STORAGE_KEY, JSON.stringify(value)); } catch (e) { /* full or off: not kept */ }
}
