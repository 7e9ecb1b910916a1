// drums_rnn studio: the page. Plain JavaScript modules, no build step, nothing loaded from elsewhere.
//
// The pattern (pattern.js) is the one piece of state every control works on: state.grid[t][v] (0/1,
// step t, voice v in the order of the server's "voices"), state.velocities and state.offsets beside it,
// and state.humanized (whether those came from the humanizer; the Humanize switch shows it). Every change
// pushes a snapshot on the undo stack. The server does the music (generate, regenerate, continue,
// humanize, MIDI files in and out); the page draws, plays (transport.js, MIDI through midi.js) and keeps
// the history, the saved state (store.js) and the variations.
//
// Requests run one at a time, and the page stays editable while they run: a result is merged into
// the pattern as it is when the result comes back (pattern.merge3), so cells changed meanwhile, or
// a grid resized meanwhile, are never overwritten or broken; the status line says what was kept.
//
// A model with controls (the server's model info has "controls") gets the Groove panel (a style and a
// density, each with "any") and a row of per-bar fill toggles over the grid; what they ask for goes
// with every Generate, Regenerate and Endless request, and is kept with the pattern (file, link, reload).
// A model without controls shows none of them and is never sent a control field.
import * as P from './pattern.js';
import * as S from './store.js';
import { Midi, midiSettings } from './midi.js';
import { Transport } from './transport.js';

const ROW_COLOURS = ['#ff5a3c', '#ffc83c', '#3cd2ff', '#2ee6b4', '#b48cff', '#d67cff', '#ff7cd4',
                     '#ff9f5a', '#8ce65a'];
const ROW_NAMES = ['Kick', 'Snare', 'Closed hat', 'Open hat', 'Low tom', 'Mid tom', 'High tom',
                   'Crash', 'Ride'];
const STYLE_NAMES = { rock: 'Rock', latin: 'Latin', funk: 'Funk', jazz: 'Jazz', hiphop: 'Hip-hop',
                      afrobeat: 'Afrobeat', neworleans: 'New Orleans', afrocuban: 'Afro-Cuban', other: 'Other' };
const MAX_UNDO = 200;
const MAX_CLIP_BYTES = 512 * 1024;
const CLIP_NAME = 'drums_rnn_studio.mid';

const $ = (id) => document.getElementById(id);

const state = {
  model: null,
  stepsPerBar: 16,
  bars: 2,
  grid: [],
  velocities: [],
  offsets: [],
  humanized: false,      // velocities and offsets come from the humanizer
  humanizeWanted: false, // the switch: results are humanized as they land
  humanizeToken: 0,      // bumped whenever the switch or the history changes what humanizing means
  seedStep: 16,
  mute: new Array(P.NUM_VOICES).fill(false),
  solo: new Array(P.NUM_VOICES).fill(false),
  lockedRows: new Array(P.NUM_VOICES).fill(false),
  lockedBars: [],
  style: null,           // the controls asked for (a model with controls): a style name or null (any),
  density: null,         // a density bin or null (any),
  fillBars: [],          // and the bars (indices) asked to be fills
  undo: [],
  redo: [],
  results: 0,
};

const view = { cells: [], heads: [], bars: [], fills: [], rowHeads: [], checks: [], painting: null, settingMarker: false,
               focus: { t: 0, v: 0 }, velocityDrag: null, lastVelocityEdit: 0 };

// ---------------------------------------------------------------------------------------------
// The pattern and its history

function numSteps() { return state.bars * state.stepsPerBar; }

function pattern() { return { grid: state.grid, velocities: state.velocities, offsets: state.offsets }; }

function copyPattern() {
  return { grid: P.copyRows(state.grid), velocities: P.copyRows(state.velocities), offsets: P.copyRows(state.offsets) };
}

function setPattern(p) {
  state.grid = p.grid;
  state.velocities = p.velocities;
  state.offsets = p.offsets;
}

function snapshot() {
  return JSON.stringify({ grid: state.grid, velocities: state.velocities, offsets: state.offsets,
                          bars: state.bars, seedStep: state.seedStep, humanized: state.humanized,
                          lockedBars: state.lockedBars });
}

function restore(text) {
  const s = JSON.parse(text);
  const rebuild = s.bars !== state.bars;
  setPattern(s);
  state.bars = s.bars;
  state.seedStep = s.seedStep;
  state.humanized = s.humanized;
  state.humanizeWanted = s.humanized;
  state.humanizeToken += 1;
  state.lockedBars = s.lockedBars || [];
  state.fillBars = state.fillBars.filter((b) => b < state.bars);
  $('bars').value = String(state.bars);
  if (rebuild) buildGrid(); else renderAll();
}

function pushUndo() {
  state.undo.push(snapshot());
  if (state.undo.length > MAX_UNDO) state.undo.shift();
  state.redo = [];
  renderHistory();
}

function undo() {
  const last = state.undo.pop();
  if (!last) { setStatus('nothing to undo'); return; }
  state.redo.push(snapshot());
  restore(last);
  renderHistory();
  setStatus('undone');
}

function redo() {
  const next = state.redo.pop();
  if (!next) { setStatus('nothing to redo'); return; }
  state.undo.push(snapshot());
  restore(next);
  renderHistory();
  setStatus('redone');
}

function renderHistory() {
  $('undo').disabled = state.undo.length === 0;
  $('redo').disabled = state.redo.length === 0;
}

function resize(bars) {
  const steps = bars * state.stepsPerBar;
  setPattern({ grid: P.fitRows(state.grid, steps), velocities: P.fitRows(state.velocities, steps),
               offsets: P.fitRows(state.offsets, steps) });
  state.bars = bars;
  state.seedStep = Math.min(state.seedStep, steps - 1);
  state.lockedBars = state.lockedBars.filter((b) => b < bars);
  state.fillBars = state.fillBars.filter((b) => b < bars);
}

// ---------------------------------------------------------------------------------------------
// Controls (a model with them): style, density, fills

function controlSpec() { return state.model && state.model.controls; }

function styleName(style) { return STYLE_NAMES[style] || style; }

/** The control fields of a request over a grid of `bars` bars: only what is asked for, none for a plain model. */
function controlFields(bars) {
  const c = controlSpec();
  if (!c) return {};
  const fields = {};
  if (state.style !== null && c.styles.includes(state.style)) fields.style = state.style;
  if (state.density !== null && state.density < c.density_bins.length) fields.density = state.density;
  const fills = state.fillBars.filter((b) => b < bars);
  if (fills.length) fields.fills = Array.from({ length: bars }, (_, b) => fills.includes(b));
  if (Object.keys(fields).length) fields.control_strength = controlStrength();
  return fields;
}

function controlStrength() { return Number($('control-strength').value); }

/** What a request asked for, in a few words (for the result line). */
function describeControls(fields) {
  const parts = [];
  if (fields.style) parts.push(styleName(fields.style));
  if (fields.density !== undefined) parts.push(`${controlSpec().density_bins[fields.density]} hits/bar`);
  if (fields.fills) {
    const bars = fields.fills.map((f, b) => (f ? b + 1 : 0)).filter(Boolean);
    parts.push(`fill${bars.length > 1 ? 's' : ''} bar${bars.length > 1 ? 's' : ''} ${bars.join(', ')}`);
  }
  const strength = fields.control_strength;
  if (strength !== undefined && strength !== controlSpec().default_strength) parts.push(`firmness ${strength}`);
  return parts;
}

function buildControls() {
  const c = controlSpec();
  $('groove-panel').hidden = !c;
  document.body.dataset.controls = c ? '1' : '0';
  if (!c) return;
  const style = $('style'), density = $('density');
  for (const name of c.styles) style.add(new Option(styleName(name), name));
  c.density_bins.forEach((hits, bin) => density.add(new Option(`${hits} hits/bar`, String(bin))));
}

/** The style and density menus show the state (a value the model does not know is "any"). */
function renderControls() {
  const c = controlSpec();
  if (!c) return;
  if (state.style !== null && !c.styles.includes(state.style)) state.style = null;
  if (state.density !== null && !(state.density < c.density_bins.length)) state.density = null;
  $('style').value = state.style === null ? '' : state.style;
  $('density').value = state.density === null ? '' : String(state.density);
}

function onControlChange() {
  state.style = $('style').value || null;
  state.density = $('density').value === '' ? null : Number($('density').value);
  const asked = describeControls(controlFields(state.bars));
  setStatus(asked.length ? `the model is asked for: ${asked.join(', ')}` : 'the model plays any style, any density');
  changed();
}

// ---------------------------------------------------------------------------------------------
// Drawing

function el(tag, className, attrs) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function toggleButton(className, text, label, title) {
  const b = el('button', `tog ${className}`, { type: 'button', 'aria-pressed': 'false', 'aria-label': label, title });
  b.textContent = text;
  return b;
}

function buildGrid() {
  const grid = $('grid');
  const steps = numSteps();
  grid.innerHTML = '';
  grid.style.setProperty('--steps', steps);
  grid.classList.toggle('dense', steps > 64);
  grid.setAttribute('aria-colcount', String(steps + 1));
  view.cells = []; view.heads = []; view.bars = []; view.fills = []; view.rowHeads = []; view.checks = [];
  view.focus = { t: Math.min(view.focus.t, steps - 1), v: view.focus.v };
  // A model with controls: a row of fill toggles, one per bar, over the bar numbers.
  const fills = Boolean(controlSpec());
  grid.classList.toggle('fills', fills);
  grid.setAttribute('aria-rowcount', String(fills ? 12 : 11));
  if (fills) {
    const fillRow = el('div', 'grow', { role: 'row' });
    const fillCorner = el('div', 'corner fillcorner', { role: 'rowheader' });
    fillCorner.textContent = 'fill';
    fillRow.appendChild(fillCorner);
    for (let b = 0; b < state.bars; b++) {
      const head = el('div', 'fillhead', { role: 'columnheader' });
      head.style.gridColumn = `${2 + b * state.stepsPerBar} / span ${state.stepsPerBar}`;
      const toggle = toggleButton('fill', 'fill', `Fill in bar ${b + 1}`,
                                  `Ask for a fill in bar ${b + 1} (the bars without one are asked not to be fills)`);
      toggle.dataset.bar = b;
      head.appendChild(toggle);
      fillRow.appendChild(head);
      view.fills.push(toggle);
    }
    grid.appendChild(fillRow);
  }
  // Header rows: bar numbers (with the bar's lock) over their 16 steps, then beats within each bar.
  const barRow = el('div', 'grow', { role: 'row' });
  barRow.appendChild(el('div', 'corner', { role: 'columnheader' }));
  for (let b = 0; b < state.bars; b++) {
    const bar = el('div', 'barhead', { role: 'columnheader' });
    bar.style.gridColumn = `${2 + b * state.stepsPerBar} / span ${state.stepsPerBar}`;
    const name = el('span', 'barname');
    name.textContent = `Bar ${b + 1}`;
    const lock = toggleButton('lockbar', '', `Lock bar ${b + 1}`,
                              `Lock bar ${b + 1}: Endless play keeps it as it is`);
    lock.dataset.bar = b;
    bar.append(name, lock);
    barRow.appendChild(bar);
    view.bars.push(lock);
  }
  grid.appendChild(barRow);
  const headRow = el('div', 'grow', { role: 'row' });
  const corner = el('div', 'corner', { role: 'columnheader' });
  corner.textContent = 'beat';
  headRow.appendChild(corner);
  for (let t = 0; t < steps; t++) {
    const head = el('div', 'head' + beatClass(t), { role: 'columnheader' });
    head.dataset.step = t;
    head.textContent = t % 4 === 0 ? String((t % 16) / 4 + 1) : '\u00b7';
    head.title = `bar ${Math.floor(t / 16) + 1}, beat ${Math.floor((t % 16) / 4) + 1}, step ${t % 4 + 1}: `
      + 'click to put the primer marker here';
    headRow.appendChild(head);
    view.heads.push(head);
  }
  grid.appendChild(headRow);
  const labels = (state.model && state.model.voice_labels) || ROW_NAMES;
  for (let v = 0; v < P.NUM_VOICES; v++) {
    const row = el('div', 'grow', { role: 'row' });
    const rowHead = el('div', 'rowname', { role: 'rowheader' });
    rowHead.style.setProperty('--c', ROW_COLOURS[v]);
    const label = el('label', 'rowlabel', { title: `${labels[v]}: tick to regenerate this row` });
    const check = el('input', 'rowcheck', { type: 'checkbox', 'aria-label': `Regenerate ${ROW_NAMES[v]}` });
    check.dataset.voice = v;
    const name = el('span', 'name');
    name.textContent = ROW_NAMES[v];
    label.append(check, name);
    const mute = toggleButton('mute', 'M', `Mute ${ROW_NAMES[v]}`, `Mute ${ROW_NAMES[v]} (playing and MIDI out)`);
    const solo = toggleButton('solo', 'S', `Solo ${ROW_NAMES[v]}`, `Solo ${ROW_NAMES[v]} (playing and MIDI out)`);
    const lock = toggleButton('lockrow', '', `Lock ${ROW_NAMES[v]}`,
                              `Lock ${ROW_NAMES[v]}: Endless play keeps this row as it is`);
    for (const b of [mute, solo, lock]) b.dataset.voice = v;
    rowHead.append(label, mute, solo, lock);
    row.appendChild(rowHead);
    view.rowHeads.push(rowHead);
    view.checks.push(check);
    const cellsOfRow = [];
    for (let t = 0; t < steps; t++) {
      const cell = el('div', 'cell' + beatClass(t), { role: 'gridcell', tabindex: '-1' });
      cell.style.setProperty('--c', ROW_COLOURS[v]);
      cell.dataset.step = t;
      cell.dataset.voice = v;
      row.appendChild(cell);
      cellsOfRow.push(cell);
    }
    grid.appendChild(row);
    view.cells.push(cellsOfRow);
  }
  $('seed-step').max = String(steps - 1);
  view.cells[view.focus.v][view.focus.t].tabIndex = 0;
  renderAll();
}

function beatClass(t) {
  return (t % 16 === 0 ? ' bar' : (t % 4 === 0 ? ' beat' : '')) + (Math.floor(t / 4) % 2 ? ' odd-beat' : '');
}

function cellLabel(t, v) {
  const where = `${ROW_NAMES[v]}, bar ${Math.floor(t / 16) + 1} beat ${Math.floor((t % 16) / 4) + 1} step ${t % 4 + 1}`;
  if (!state.grid[t][v]) return `${where}, off`;
  const off = state.offsets[t][v];
  const timing = off ? `, ${off > 0 ? 'late' : 'early'} by ${Math.round(Math.abs(off) * 100)}% of a step` : '';
  return `${where}, on, velocity ${state.velocities[t][v]}${timing}`;
}

function renderCell(t, v) {
  const cell = view.cells[v][t];
  const on = state.grid[t][v] === 1;
  cell.classList.toggle('on', on);
  cell.classList.toggle('gen', t >= state.seedStep);
  const vel = on ? state.velocities[t][v] : 0;
  cell.style.setProperty('--a', on ? (vel / 127).toFixed(3) : '1');
  const off = on ? state.offsets[t][v] : 0;
  cell.classList.toggle('timed', on && (state.humanized || off !== 0));
  cell.style.setProperty('--off', off.toFixed(3));
  cell.setAttribute('aria-label', cellLabel(t, v));
  cell.setAttribute('aria-selected', on ? 'true' : 'false');
}

function audible(v) { return state.solo.some(Boolean) ? state.solo[v] : !state.mute[v]; }

function renderRows() {
  view.rowHeads.forEach((head, v) => {
    const [mute, solo, lock] = head.querySelectorAll('.tog');
    mute.setAttribute('aria-pressed', String(state.mute[v]));
    solo.setAttribute('aria-pressed', String(state.solo[v]));
    lock.setAttribute('aria-pressed', String(state.lockedRows[v]));
    head.classList.toggle('silent', !audible(v));
    for (const cell of view.cells[v]) cell.classList.toggle('silent', !audible(v));
  });
  view.bars.forEach((lock, b) => lock.setAttribute('aria-pressed', String(state.lockedBars.includes(b))));
  view.fills.forEach((toggle, b) => {
    const on = state.fillBars.includes(b);
    toggle.setAttribute('aria-pressed', String(on));
    if (view.bars[b]) view.bars[b].parentElement.classList.toggle('fillbar', on);
  });
}

function renderAll() {
  const steps = numSteps();
  for (let v = 0; v < P.NUM_VOICES; v++) for (let t = 0; t < steps; t++) renderCell(t, v);
  view.heads.forEach((head, t) => {
    head.classList.toggle('gen', t >= state.seedStep);
    head.classList.toggle('seed', t === state.seedStep);
  });
  $('seed-step').value = String(state.seedStep);
  $('humanize').checked = state.humanizeWanted;
  renderControls();
  renderRows();
  placeMarker();
  document.body.dataset.hits = String(P.countHits(state.grid));
  changed();
}

function placeMarker() {
  const head = view.heads[state.seedStep];
  const line = $('seed-line');
  if (!head) return;
  line.style.left = `${head.offsetLeft - 2}px`;
  line.style.top = `${head.offsetTop}px`;
  line.style.height = `${$('grid').offsetHeight - head.offsetTop}px`;
}

function setSeedStep(t) {
  const steps = numSteps();
  const clamped = Math.max(1, Math.min(steps - 1, Math.round(t)));
  if (clamped === state.seedStep) return;
  state.seedStep = clamped;
  renderAll();
}

// ---------------------------------------------------------------------------------------------
// Editing: paint and erase cells, velocities by drag, wheel or keys, the primer marker, rows and bars

function cellOf(target) {
  return target && target.classList && target.classList.contains('cell')
    ? { t: Number(target.dataset.step), v: Number(target.dataset.voice) } : null;
}

function onPointerDown(event) {
  const target = event.target;
  const at = cellOf(target);
  if (at) {
    event.preventDefault();
    moveFocus(at.t, at.v, false);
    if (event.shiftKey && state.grid[at.t][at.v] && event.button === 0) {
      pushUndo();
      view.velocityDrag = { t: at.t, v: at.v, y: event.clientY, from: state.velocities[at.t][at.v] };
      return;
    }
    pushUndo();
    const value = event.button === 2 ? 0 : (state.grid[at.t][at.v] ? 0 : 1);
    view.painting = value;
    paint(at.t, at.v, value);
  } else if (target.classList.contains('head')) {
    event.preventDefault();
    view.settingMarker = true;
    setSeedStep(Number(target.dataset.step));
  }
}

function onPointerOver(event) {
  const target = event.target;
  const at = cellOf(target);
  if (view.painting !== null && at) {
    paint(at.t, at.v, view.painting);
  } else if (view.settingMarker && (target.classList.contains('head') || at)) {
    setSeedStep(Number(target.dataset.step));
  }
}

function onPointerMove(event) {
  const drag = view.velocityDrag;
  if (!drag) return;
  setVelocity(drag.t, drag.v, drag.from + Math.round(drag.y - event.clientY));
}

function paint(t, v, value) {
  if (state.grid[t][v] === value) return;
  const velocity = value ? P.newHitVelocity(pattern(), v, state.humanized) : 0;
  state.grid[t][v] = value;
  state.velocities[t][v] = velocity;
  state.offsets[t][v] = 0;
  renderCell(t, v);
  document.body.dataset.hits = String(P.countHits(state.grid));
  changed();
}

function setVelocity(t, v, value) {
  if (!state.grid[t][v]) return;
  const clamped = Math.max(1, Math.min(127, Math.round(value)));
  if (clamped === state.velocities[t][v]) return;
  state.velocities[t][v] = clamped;
  renderCell(t, v);
  setStatus(`${ROW_NAMES[v]} at bar ${Math.floor(t / 16) + 1} beat ${Math.floor((t % 16) / 4) + 1}: velocity ${clamped}`);
  changed();
}

/** A velocity step from the wheel or a key; one undo entry for a burst of them. */
function nudgeVelocity(t, v, delta) {
  if (!state.grid[t][v]) return;
  const now = performance.now();
  if (now - view.lastVelocityEdit > 800) pushUndo();
  view.lastVelocityEdit = now;
  setVelocity(t, v, state.velocities[t][v] + delta);
}

function onWheel(event) {
  const at = cellOf(event.target);
  if (!at || !state.grid[at.t][at.v]) return;
  event.preventDefault();
  nudgeVelocity(at.t, at.v, (event.deltaY < 0 ? 1 : -1) * (event.shiftKey ? 1 : 4));
}

function onPointerUp() { view.painting = null; view.settingMarker = false; view.velocityDrag = null; }

function moveFocus(t, v, focus = true) {
  const steps = numSteps();
  t = Math.max(0, Math.min(steps - 1, t));
  v = Math.max(0, Math.min(P.NUM_VOICES - 1, v));
  const old = view.cells[view.focus.v] && view.cells[view.focus.v][view.focus.t];
  if (old) old.tabIndex = -1;
  view.focus = { t, v };
  const cell = view.cells[v][t];
  cell.tabIndex = 0;
  if (focus) cell.focus();
}

function onGridKey(event) {
  const at = cellOf(event.target);
  if (!at) return;
  const { t, v } = at;
  const steps = numSteps();
  const moves = {
    ArrowRight: [t + 1, v], ArrowLeft: [t - 1, v], ArrowDown: [t, v + 1], ArrowUp: [t, v - 1],
    Home: [0, v], End: [steps - 1, v], PageDown: [t + 16, v], PageUp: [t - 16, v],
  };
  if (moves[event.key] && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    moveFocus(...moves[event.key]);
  } else if (event.key === 'Enter') {
    event.preventDefault();
    pushUndo();
    paint(t, v, state.grid[t][v] ? 0 : 1);
    setStatus(cellLabel(t, v));
  } else if (['+', '=', '-', '_'].includes(event.key)) {
    event.preventDefault();
    nudgeVelocity(t, v, (event.key === '+' || event.key === '=' ? 1 : -1) * (event.shiftKey && event.key !== '+' && event.key !== '_' ? 1 : 8));
  }
}

function onRowButton(event) {
  const button = event.target.closest('.tog');
  if (!button) return;
  if (button.classList.contains('lockbar')) {
    const b = Number(button.dataset.bar);
    state.lockedBars = state.lockedBars.includes(b) ? state.lockedBars.filter((x) => x !== b) : [...state.lockedBars, b].sort();
  } else if (button.classList.contains('fill')) {
    const b = Number(button.dataset.bar);
    const on = !state.fillBars.includes(b);
    state.fillBars = on ? [...state.fillBars, b].sort((x, y) => x - y) : state.fillBars.filter((x) => x !== b);
    setStatus(`bar ${b + 1}: ${on ? 'a fill asked for' : 'no fill asked for'}`
      + (state.fillBars.length ? ` (fills: bar${state.fillBars.length > 1 ? 's' : ''} ${state.fillBars.map((x) => x + 1).join(', ')})` : ''));
  } else {
    const v = Number(button.dataset.voice);
    const list = button.classList.contains('mute') ? state.mute : (button.classList.contains('solo') ? state.solo : state.lockedRows);
    list[v] = !list[v];
  }
  renderRows();
  changed();
}

// ---------------------------------------------------------------------------------------------
// The server: one request at a time, each result merged into the pattern as it is when it lands

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error(`the studio server does not answer (${e.message}); is drums_rnn_studio running?`);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

const jobs = { chain: Promise.resolve(), pending: 0 };

/** Runs `job` after the jobs before it; the page is "busy" while any is queued or running. */
function enqueue(job) {
  jobs.pending += 1;
  renderBusy();
  const run = jobs.chain.then(job).catch((e) => setStatus(e.message, true)).finally(() => {
    jobs.pending -= 1;
    renderBusy();
  });
  jobs.chain = run;
  return run;
}

function renderBusy() {
  const busy = jobs.pending > 0;
  document.body.classList.toggle('busy', busy);
  document.body.dataset.pending = busy ? '1' : '0';
  for (const id of ['generate', 'regenerate']) $(id).disabled = busy;
}

function setStatus(text, isError) {
  const status = $('status');
  status.textContent = text;
  status.classList.toggle('error', Boolean(isError));
}

function qpm() { return Number($('tempo').value); }
function temperature() { return Number($('temperature').value); }
function swing() { return Number($('swing').value) / 100; }
function swingUnit() { return Number($('swing-unit').value); }
function strength() { return Number($('strength').value) / 100; }
function humanizeTemperature() { return Number($('humanize-temperature').value); }
function variationCount() { return Number($('variations').value); }

function nextSeed() {
  if (!$('lock-seed').checked) $('seed').value = String(randomSeed());
  const seed = Math.floor(Number($('seed').value));
  if (!Number.isFinite(seed) || seed < 0) throw new Error('the seed must be a whole number >= 0');
  return seed;
}

function randomSeed() { return Math.floor(Math.random() * 2147483647); }

function humanizeFields() {
  return { humanize: true, qpm: qpm(), humanize_temperature: humanizeTemperature(), strength: strength(),
           centre: $('centre').checked };
}

function landingNotes(kept, baseBars) {
  const notes = [];
  if (kept) notes.push(`kept ${kept} cell${kept > 1 ? 's' : ''} you changed while it ran`);
  if (baseBars !== state.bars) {
    notes.push(baseBars < state.bars ? `it filled bars 1-${baseBars}; the bars added meanwhile are as they were`
      : `cut to the ${state.bars} bar${state.bars > 1 ? 's' : ''} you chose meanwhile`);
  }
  return notes;
}

async function runModel(what, path, extra, voices) {
  let seed;
  try { seed = nextSeed(); } catch (e) { setStatus(e.message, true); return; }
  await enqueue(async () => {
    setStatus(`${what}\u2026`);
    const started = performance.now();
    const base = copyPattern(), baseBars = state.bars, seedStep = state.seedStep;
    const asked = controlFields(baseBars);
    const body = Object.assign({ grid: base.grid, seed_step: seedStep, temperature: temperature(), seed, qpm: qpm(),
                                 variations: variationCount() },
                               state.humanizeWanted ? humanizeFields() : {}, asked, extra);
    let result;
    try {
      result = await (await api(path, body)).json();
    } catch (e) {
      setStatus(`${what} failed: ${e.message}`, true);
      return;
    }
    const humanizedNow = state.humanizeWanted && Boolean(result.velocities);
    const items = result.variations.map((r) => ({
      pattern: P.resultPattern(base, r.grid, humanizedNow ? r.velocities : null, humanizedNow ? r.offsets : null),
      changed: voices ? P.differs(base.grid, r.grid, voices, seedStep) : true,
    }));
    // Regenerate: the first variation that changes something, when one does.
    const first = Math.max(0, items.findIndex((item) => item.changed));
    pushUndo();
    const { kept } = P.merge3(pattern(), base, items[first].pattern);
    if (humanizedNow) state.humanized = true;
    showStrip(items, first, baseBars);
    renderAll();
    if (state.humanizeWanted && !humanizedNow) humanizeLater();
    const notes = landingNotes(kept, baseBars);
    const ms = Math.round(performance.now() - started);
    state.results += 1;
    document.body.dataset.results = String(state.results);
    const tail = notes.length ? `; ${notes.join('; ')}` : '';
    if (!items[first].changed) {
      const names = voices.map((v) => ROW_NAMES[v]).join(', ');
      setStatus(`${what}: no change: the model kept the ${names} part${voices.length > 1 ? 's' : ''} right of the `
        + `primer marker as ${voices.length > 1 ? 'they were' : 'it was'} in ${items.length > 1 ? `all ${items.length} variations` : 'its answer'}`
        + ` (try another seed or a higher temperature)${tail}`);
    } else {
      const many = items.length > 1 ? `, ${items.length} variations (the strip under the grid)` : '';
      setStatus(`${what} done${state.humanized ? ', humanized' : ''}${many}${tail}`);
    }
    $('result').textContent = [`seed ${result.seed}`, ...describeControls(asked), `${ms} ms`].join(' \u00b7 ');
  });
}

function generate() { return runModel('generate', '/api/generate', {}, null); }

function regenerate() {
  const ticked = view.checks.filter((c) => c.checked).map((c) => Number(c.dataset.voice));
  if (!ticked.length) {
    setStatus('tick the rows to regenerate first (the boxes by the row names)', true);
    return undefined;
  }
  const what = `regenerate ${ticked.length} row${ticked.length > 1 ? 's' : ''}`;
  return runModel(what, '/api/regenerate', { voices: ticked.map((v) => state.model.voices[v]) }, ticked);
}

/** Humanizes the pattern as it is when the request runs; dropped if the switch or history moved on. */
function humanizeLater() {
  const token = state.humanizeToken;
  let seed;
  try { seed = nextSeed(); } catch (e) { setStatus(e.message, true); return undefined; }
  return enqueue(async () => {
    if (token !== state.humanizeToken || !state.humanizeWanted) return;
    setStatus('humanizing\u2026');
    const base = copyPattern();
    let result;
    try {
      result = await (await api('/api/humanize', { grid: base.grid, qpm: qpm(), seed, temperature: humanizeTemperature(),
                                                   strength: strength(), centre: $('centre').checked })).json();
    } catch (e) {
      if (token === state.humanizeToken) {
        state.humanizeWanted = state.humanized;
        renderAll();
      }
      setStatus(`humanize failed: ${e.message}`, true);
      return;
    }
    if (token !== state.humanizeToken || !state.humanizeWanted) return;
    pushUndo();
    const { kept } = P.merge3(pattern(), base, { grid: base.grid, velocities: result.velocities, offsets: result.offsets });
    state.humanized = true;
    renderAll();
    setStatus('humanized: the fill of each hit shows its velocity, its tick its timing'
      + (kept ? `; kept ${kept} cell${kept > 1 ? 's' : ''} you changed while it ran` : ''));
  });
}

function onHumanizeSwitch() {
  state.humanizeToken += 1;
  if (!$('humanize').checked) {
    state.humanizeWanted = false;
    if (state.humanized) {
      pushUndo();
      state.velocities = P.plainVelocities(state.grid);
      state.offsets = P.zeroOffsets(state.grid);
      state.humanized = false;
    }
    renderAll();
    setStatus('humanize off: every hit at velocity 100, on the grid');
    return;
  }
  state.humanizeWanted = true;
  renderAll();
  humanizeLater();
}

let rehumanizeTimer = null;

function onHumanizeSettings() {
  showValues();
  changed();
  if (!state.humanizeWanted) return;
  clearTimeout(rehumanizeTimer);
  rehumanizeTimer = setTimeout(() => { state.humanizeToken += 1; humanizeLater(); }, 300);
}

function clearGrid() {
  pushUndo();
  state.grid = P.emptyRows(numSteps());
  state.velocities = P.emptyRows(numSteps());
  state.offsets = P.emptyRows(numSteps());
  state.humanized = false;
  state.humanizeWanted = false;
  state.humanizeToken += 1;
  renderAll();
  setStatus('cleared');
}

// ---------------------------------------------------------------------------------------------
// Variations: the strip under the grid; a click auditions one (it replaces the grid, playing on)

const strip = { items: [], current: 0 };

function showStrip(items, current) {
  strip.items = items;
  strip.current = current;
  renderStrip();
}

function renderStrip() {
  const box = $('strip');
  box.innerHTML = '';
  box.hidden = strip.items.length < 2;
  if (box.hidden) return;
  const title = el('span', 'strip-title');
  title.textContent = 'Variations';
  box.appendChild(title);
  strip.items.forEach((item, i) => {
    const button = el('button', 'variation', { type: 'button', 'aria-pressed': String(i === strip.current),
                                                'aria-label': `Variation ${i + 1} of ${strip.items.length}${item.changed ? '' : ' (no change)'}` });
    button.dataset.index = i;
    const canvas = el('canvas', 'thumb', { width: '256', height: '54', 'aria-hidden': 'true' });
    drawThumb(canvas, item.pattern);
    const number = el('span', 'vnum');
    number.textContent = String(i + 1);
    button.append(number, canvas);
    box.appendChild(button);
  });
}

function drawThumb(canvas, p) {
  const ctx = canvas.getContext('2d');
  const steps = p.grid.length;
  const w = canvas.width / steps, h = canvas.height / P.NUM_VOICES;
  ctx.fillStyle = '#0f1114';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let t = 0; t < steps; t++) {
    if (t % 16 === 0) { ctx.fillStyle = '#3a4150'; ctx.fillRect(t * w, 0, 1, canvas.height); }
    for (let v = 0; v < P.NUM_VOICES; v++) {
      if (!p.grid[t][v]) continue;
      ctx.fillStyle = ROW_COLOURS[v];
      ctx.globalAlpha = 0.35 + 0.65 * (p.velocities[t][v] / 127);
      ctx.fillRect(t * w + 0.5, v * h + 0.5, Math.max(1, w - 1), h - 1);
    }
  }
  ctx.globalAlpha = 1;
}

function pickVariation(i) {
  if (i === strip.current || !strip.items[i]) return;
  pushUndo();
  P.merge3(pattern(), strip.items[strip.current].pattern, copyOf(strip.items[i].pattern));
  strip.current = i;
  renderAll();
  for (const b of $('strip').querySelectorAll('.variation')) b.setAttribute('aria-pressed', String(Number(b.dataset.index) === i));
  setStatus(`variation ${i + 1} of ${strip.items.length}`);
}

function copyOf(p) { return { grid: P.copyRows(p.grid), velocities: P.copyRows(p.velocities), offsets: P.copyRows(p.offsets) }; }

// ---------------------------------------------------------------------------------------------
// Playing, Endless play, MIDI

const endless = { next: null, pending: false, token: 0, passes: [], late: 0 };

const transport = new Transport({
  steps: numSteps,
  stepMs: () => 60000 / qpm() / 4,
  beforeStep: (s, count, time) => { if (s === 0) endlessSeam(count, time); },
  hitsAt: (s) => {
    const row = state.grid[s];
    const hits = [];
    if (!row) return hits;
    const shift = P.swingShift(s, swing(), swingUnit());
    for (let v = 0; v < P.NUM_VOICES; v++) {
      if (!row[v] || !audible(v)) continue;
      hits.push({ voice: v, delay: shift + state.offsets[s][v], velocity: state.velocities[s][v] || P.DEFAULT_VELOCITY });
    }
    return hits;
  },
  cursor: moveCursor,
});

/** At the loop's seam: the continuation, if it came, replaces the pattern; the next one is asked for. */
function endlessSeam(count, time) {
  if (!$('endless').checked) { endless.next = null; return; }
  if (count > 0) {
    const next = endless.next;
    if (next && next.bars === state.bars) {
      endless.next = null;
      pushUndo();
      setPattern(next.pattern);
      state.humanized = next.humanized;
      endless.passes.push({ count, grid: P.copyRows(state.grid) });
      setTimeout(() => { renderAll(); setStatus(`endless: pass ${endless.passes.length + 1}`); },
                 Math.max(0, time - performance.now()));
    } else if (endless.pending) {
      endless.late += 1;
      setStatus('endless: the next bars were not ready at the bar line; this pass plays again', true);
    }
  } else {
    endless.passes = [{ count: 0, grid: P.copyRows(state.grid) }];
  }
  requestContinuation();
}

async function requestContinuation() {
  if (endless.pending) return;
  const token = ++endless.token;
  const bars = state.bars;
  const humanize = state.humanizeWanted;
  const body = Object.assign({
    grid: P.copyRows(state.grid), bars, temperature: temperature(),
    seed: $('lock-seed').checked ? Number($('seed').value) + endless.passes.length : randomSeed(),
    keep_voices: state.lockedRows.map((on, v) => (on ? state.model.voices[v] : null)).filter(Boolean),
    keep_bars: state.lockedBars.filter((b) => b < bars),
  }, controlFields(bars), humanize ? humanizeFields() : { qpm: qpm() });
  endless.pending = true;
  try {
    const result = await (await api('/api/continue', body)).json();
    if (token !== endless.token) return;
    const p = P.resultPattern({ grid: [], velocities: [], offsets: [] }, result.grid,
                              humanize ? result.velocities : null, humanize ? result.offsets : null);
    endless.next = { pattern: p, bars, humanized: humanize && Boolean(result.velocities) };
  } catch (e) {
    setStatus(`endless: ${e.message}`, true);
  } finally {
    if (token === endless.token) endless.pending = false;
  }
}

function onEndless() {
  endless.token += 1;
  endless.next = null;
  endless.pending = false;
  if ($('endless').checked && transport.playing) requestContinuation();
  setStatus($('endless').checked ? 'endless: while it plays, the next bars are generated from what is playing'
    : 'endless off: the pattern loops');
  changed();
}

let shownCursor = -1;

function moveCursor(step) {
  const old = shownCursor;
  if (old >= 0 && old < view.heads.length) {
    view.heads[old].classList.remove('cursor');
    for (const row of view.cells) if (row[old]) row[old].classList.remove('cursor');
  }
  shownCursor = step;
  $('grid').dataset.cursor = String(step);
  if (step >= 0 && step < view.heads.length) {
    view.heads[step].classList.add('cursor');
    for (const row of view.cells) row[step].classList.add('cursor');
  }
  if (!transport.playing) renderTransport();
}

function renderTransport() {
  const playing = transport.playing;
  document.body.classList.toggle('playing', playing);
  $('play').querySelector('.label').textContent = playing ? 'Stop' : 'Play';
  $('play').querySelector('.icon').textContent = playing ? '\u25A0' : '\u25B6';
  $('play').setAttribute('aria-pressed', playing ? 'true' : 'false');
  $('play').disabled = transport.following;
  $('play').title = transport.following ? 'Following the MIDI clock: the DAW starts and stops the studio'
    : 'Play / stop (space)';
  $('tempo').disabled = transport.following;
}

function togglePlay() {
  if (transport.following) { setStatus('following the MIDI clock: start and stop from the DAW'); return; }
  if (transport.playing) transport.stop(); else transport.play();
  renderTransport();
}

const midi = new Midi(transport, {
  changed: () => changed(),
  status: setStatus,
  follow: () => renderTransport(),
});

transport.onTempo = (bpm) => {
  if (!transport.following) return;
  const rounded = Math.round(bpm * 10) / 10;
  $('tempo').value = String(Math.round(bpm));
  $('tempo-value').textContent = `${rounded} BPM (clock)`;
  document.body.dataset.clockBpm = String(rounded);
};
transport.onFollow = (what) => {
  renderTransport();
  setStatus(what === 'start' ? 'the MIDI clock started the studio' : 'the MIDI clock stopped the studio');
};

// ---------------------------------------------------------------------------------------------
// Files: Download MIDI, the clip to drag out, Save / Open (patterns and MIDI clips), the link, reloads

function midiBody() {
  return { grid: state.grid, qpm: qpm(), swing: swing(), swing_unit: swingUnit(), velocities: state.velocities,
           offsets: state.offsets };
}

async function downloadMidi() {
  try {
    const blob = await (await api('/api/midi', midiBody())).blob();
    saveBlob(blob, CLIP_NAME);
    setStatus(`MIDI written: ${CLIP_NAME} (${state.bars} bar${state.bars > 1 ? 's' : ''} at ${qpm()} BPM)`);
  } catch (e) {
    setStatus(`MIDI download failed: ${e.message}`, true);
  }
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The clip to drag out is made ahead of the drag (a drag cannot wait for the server): after every change.
const clip = { key: '', url: null, blob: null, wanted: '' };

async function refreshClip() {
  const body = midiBody();
  const key = JSON.stringify(body);
  clip.wanted = key;
  if (key === clip.key) return;
  $('clip-drag').classList.add('stale');
  try {
    const blob = await (await api('/api/midi', body)).blob();
    if (clip.wanted !== key) return;
    if (clip.url) URL.revokeObjectURL(clip.url);
    clip.url = URL.createObjectURL(blob);
    clip.blob = blob;
    clip.key = key;
    const link = $('clip-drag');
    link.href = clip.url;
    link.download = CLIP_NAME;
    link.classList.remove('stale');
  } catch (e) {
    setStatus(`the MIDI clip could not be made: ${e.message}`, true);
  }
}

function onClipDragStart(event) {
  if (!clip.url || clip.key !== JSON.stringify(midiBody())) {
    event.preventDefault();
    setStatus('the clip is being brought up to date: drag it again in a moment');
    refreshClip();
    return;
  }
  event.dataTransfer.effectAllowed = 'copy';
  event.dataTransfer.setData('DownloadURL', `audio/midi:${CLIP_NAME}:${clip.url}`);
  event.dataTransfer.setData('text/uri-list', clip.url);
  event.dataTransfer.setData('text/plain', CLIP_NAME);
}

function toDoc() {
  return { format: S.FORMAT, version: S.VERSION, bars: state.bars, qpm: qpm(), swing: swing(), swing_unit: swingUnit(),
           seed_step: state.seedStep, humanized: state.humanized, grid: state.grid, velocities: state.velocities,
           offsets: state.offsets, mute: state.mute, solo: state.solo, locked_rows: state.lockedRows,
           locked_bars: state.lockedBars, style: state.style, density: state.density, fill_bars: state.fillBars };
}

function applyDoc(doc, what) {
  pushUndo();
  const rebuild = doc.bars !== state.bars;
  state.bars = doc.bars;
  setPattern({ grid: doc.grid, velocities: doc.velocities, offsets: doc.offsets });
  state.seedStep = doc.seed_step;
  state.humanized = doc.humanized;
  state.humanizeWanted = doc.humanized;
  state.humanizeToken += 1;
  state.mute = doc.mute; state.solo = doc.solo; state.lockedRows = doc.locked_rows; state.lockedBars = doc.locked_bars;
  state.style = doc.style; state.density = doc.density; state.fillBars = doc.fill_bars;
  $('bars').value = String(doc.bars);
  $('tempo').value = String(Math.round(doc.qpm));
  $('swing').value = String(Math.round(doc.swing * 100));
  $('swing-unit').value = String(doc.swing_unit);
  showValues();
  if (rebuild) buildGrid(); else renderAll();
  if (what) setStatus(what);
}

function savePattern() {
  const blob = new Blob([JSON.stringify(toDoc())], { type: 'application/json' });
  saveBlob(blob, 'drums_rnn_studio.drums.json');
  setStatus('pattern saved: drums_rnn_studio.drums.json (Open it, or drop it on the page, to load it)');
}

function bytesToBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function openFile(file) {
  const name = file.name || 'the file';
  if (/\.(mid|midi)$/i.test(name) || file.type === 'audio/midi' || file.type === 'audio/mid') {
    if (file.size > MAX_CLIP_BYTES) { setStatus(`${name} is too large for a clip (at most 512 KiB)`, true); return; }
    const bytes = new Uint8Array(await file.arrayBuffer());
    try {
      const clipGrid = await (await api('/api/clip', { midi: bytesToBase64(bytes) })).json();
      loadClip(clipGrid, name);
    } catch (e) {
      setStatus(`${name}: ${e.message}`, true);
    }
    return;
  }
  try {
    applyDoc(S.checkDoc(JSON.parse(await file.text())), `opened ${name}`);
  } catch (e) {
    setStatus(`${name}: ${e instanceof SyntaxError ? 'not JSON' : e.message}`, true);
  }
}

function loadClip(c, name) {
  const doc = S.checkDoc(Object.assign(toDoc(), {
    bars: c.bars, grid: c.grid, velocities: c.velocities, offsets: c.offsets, humanized: false,
    qpm: Math.max(40, Math.min(240, c.qpm)), seed_step: Math.min(state.seedStep, c.bars * 16 - 1),
    locked_bars: state.lockedBars.filter((b) => b < c.bars), fill_bars: state.fillBars.filter((b) => b < c.bars),
  }));
  applyDoc(doc);
  const parts = [`${name}: ${c.bars} bar${c.bars > 1 ? 's' : ''} at ${Math.round(c.qpm * 10) / 10} BPM, ${c.mapped} drum notes`];
  if (c.unmapped) parts.push(`${c.unmapped} on no drum row left out`);
  if (c.merged) parts.push(`${c.merged} merged into a louder hit of the same step`);
  if (c.cut_bars) parts.push(`${c.cut_bars} bar${c.cut_bars > 1 ? 's' : ''} past ${state.model.max_bars} cut`);
  if (c.qpm < 40 || c.qpm > 240) parts.push(`its tempo is outside 40-240 BPM: ${qpm()} BPM here`);
  setStatus(parts.join('; '));
}

function shareLink() {
  const url = `${location.origin}${location.pathname}#p=${S.packDoc(toDoc())}`;
  const box = $('share-box');
  box.hidden = false;
  $('share-url').value = url;
  $('share-url').select();
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(url).then(() => setStatus('the link is copied: it holds the whole pattern'),
                                            () => setStatus('the link is below: copy it (Ctrl-C)'));
  } else {
    setStatus('the link is below: copy it (Ctrl-C)');
  }
}

function settings() {
  return { temperature: temperature(), variations: variationCount(), strength: strength(),
           control_strength: controlStrength(),
           humanize_temperature: humanizeTemperature(), centre: $('centre').checked, endless: $('endless').checked,
           midi: midiSettings };
}

function applySettings(s) {
  if (!s || typeof s !== 'object') return;
  const set = (id, value, ok) => { if (ok(value)) $(id).value = String(value); };
  const num = (lo, hi) => (x) => typeof x === 'number' && Number.isFinite(x) && x >= lo && x <= hi;
  set('temperature', s.temperature, num(0.1, 2));
  set('variations', s.variations, (x) => [1, 2, 4, 8].includes(x));
  set('strength', Math.round(s.strength * 100), num(0, 100));
  set('humanize-temperature', s.humanize_temperature, num(0.1, 2));
  set('control-strength', s.control_strength, num(0, Number($('control-strength').max)));
  $('centre').checked = s.centre === true;
  $('endless').checked = s.endless === true;
  const m = s.midi;
  if (m && typeof m === 'object') {
    if (typeof m.enabled === 'boolean') midiSettings.enabled = m.enabled;
    if (typeof m.outName === 'string') midiSettings.outName = m.outName;
    if (typeof m.inName === 'string') midiSettings.inName = m.inName;
    if (Number.isInteger(m.channel) && m.channel >= 1 && m.channel <= 16) midiSettings.channel = m.channel;
    if (['gm', 'rack', 'custom'].includes(m.map)) midiSettings.map = m.map;
    if (Array.isArray(m.pitches) && m.pitches.length === 9 && m.pitches.every((p) => Number.isInteger(p) && p >= 0 && p <= 127)) {
      midiSettings.pitches = m.pitches.slice();
    }
    if (num(-80, 250)(m.latencyMs)) midiSettings.latencyMs = m.latencyMs;
    if (typeof m.clock === 'boolean') midiSettings.clock = m.clock;
    if (typeof m.follow === 'boolean') midiSettings.follow = m.follow && !midiSettings.clock;
  }
}

let persistTimer = null;

/** Something changed: the state is kept (for a reload) and the clip to drag out made again, shortly. */
function changed() {
  if (document.body.dataset.state !== 'ready') return;
  clearTimeout(persistTimer);
  persistTimer = setTimeout(() => {
    S.store({ pattern: toDoc(), settings: settings() });
    refreshClip();
  }, 150);
}

function wireDrop() {
  let depth = 0;
  const box = $('drop');
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes('Files');
  document.addEventListener('dragenter', (event) => { if (hasFiles(event)) { depth += 1; box.hidden = false; } });
  document.addEventListener('dragleave', (event) => { if (hasFiles(event) && --depth <= 0) { depth = 0; box.hidden = true; } });
  document.addEventListener('dragover', (event) => { if (hasFiles(event)) event.preventDefault(); });
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    box.hidden = true;
    const file = event.dataTransfer.files[0];
    if (file) openFile(file);
  });
}

// ---------------------------------------------------------------------------------------------
// Wiring

function showValues() {
  $('temperature-value').textContent = temperature().toFixed(2);
  if (!transport.following) $('tempo-value').textContent = `${qpm()} BPM`;
  $('swing-value').textContent = `${$('swing').value}%`;
  $('strength-value').textContent = `${$('strength').value}%`;
  $('humanize-temperature-value').textContent = humanizeTemperature().toFixed(2);
  $('control-strength-value').textContent = controlStrength().toFixed(1);
}

function wire() {
  const grid = $('grid');
  grid.addEventListener('mousedown', onPointerDown);
  grid.addEventListener('mouseover', onPointerOver);
  grid.addEventListener('contextmenu', (event) => event.preventDefault());
  grid.addEventListener('wheel', onWheel, { passive: false });
  grid.addEventListener('keydown', onGridKey);
  grid.addEventListener('click', onRowButton);
  window.addEventListener('mousemove', onPointerMove);
  window.addEventListener('mouseup', onPointerUp);
  window.addEventListener('resize', placeMarker);
  $('generate').addEventListener('click', generate);
  $('regenerate').addEventListener('click', regenerate);
  $('play').addEventListener('click', togglePlay);
  $('midi').addEventListener('click', downloadMidi);
  $('undo').addEventListener('click', undo);
  $('redo').addEventListener('click', redo);
  $('clear').addEventListener('click', clearGrid);
  $('save').addEventListener('click', savePattern);
  $('open').addEventListener('click', () => $('open-file').click());
  $('open-file').addEventListener('change', () => {
    const file = $('open-file').files[0];
    if (file) openFile(file);
    $('open-file').value = '';
  });
  $('share').addEventListener('click', shareLink);
  $('share-close').addEventListener('click', () => { $('share-box').hidden = true; });
  $('clip-drag').addEventListener('dragstart', onClipDragStart);
  $('clip-drag').addEventListener('click', (event) => {
    if (!clip.url) { event.preventDefault(); refreshClip(); }
  });
  $('strip').addEventListener('click', (event) => {
    const button = event.target.closest('.variation');
    if (button) pickVariation(Number(button.dataset.index));
  });
  $('humanize').addEventListener('change', onHumanizeSwitch);
  $('endless').addEventListener('change', onEndless);
  $('dice').addEventListener('click', () => { $('seed').value = String(randomSeed()); });
  for (const id of ['temperature', 'tempo', 'swing', 'control-strength']) {
    $(id).addEventListener('input', () => { showValues(); changed(); });
  }
  for (const id of ['swing-unit', 'variations']) $(id).addEventListener('change', () => changed());
  for (const id of ['strength', 'humanize-temperature']) $(id).addEventListener('input', onHumanizeSettings);
  $('centre').addEventListener('change', onHumanizeSettings);
  for (const id of ['style', 'density']) $(id).addEventListener('change', onControlChange);
  $('bars').addEventListener('change', () => {
    pushUndo();
    resize(Number($('bars').value));
    buildGrid();
  });
  $('seed-step').addEventListener('change', () => {
    setSeedStep(Number($('seed-step').value));
    $('seed-step').value = String(state.seedStep);
  });
  document.addEventListener('keydown', (event) => {
    const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName)
      && event.target.type !== 'checkbox' && event.target.type !== 'range';
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === 'z' && !typing) {
      event.preventDefault();
      if (event.shiftKey) redo(); else undo();
    } else if ((event.ctrlKey || event.metaKey) && key === 'y' && !typing) {
      event.preventDefault();
      redo();
    } else if (event.key === ' ' && !typing && event.target.tagName !== 'SUMMARY') {
      event.preventDefault();
      if (!event.repeat) togglePlay();
    }
  });
  // Space is the play key everywhere: a focused button or checkbox must not also be pressed by it.
  document.addEventListener('keyup', (event) => {
    if (event.key === ' ' && (event.target.tagName === 'BUTTON' || event.target.type === 'checkbox')) {
      event.preventDefault();
    }
  });
  wireDrop();
  // A shared link pasted into the studio's own tab changes only the #fragment: no reload, so load it here.
  window.addEventListener('hashchange', () => {
    if (document.body.dataset.state !== 'ready') return;
    const shared = startingPattern(null);
    if (shared.doc) applyDoc(shared.doc, shared.note);
    else if (shared.note) setStatus(shared.note, shared.error);
  });
}

/** The pattern to start with: a shared link, else the state kept from the last visit, else the starter. */
function startingPattern(stored) {
  const match = /^#p=(.+)$/.exec(location.hash);
  if (match) {
    history.replaceState(null, '', location.pathname);  // a reload then keeps your edits, not the link's pattern
    try {
      return { doc: S.unpackDoc(match[1]), note: 'opened the shared pattern' };
    } catch (e) {
      return { doc: null, note: `the link's pattern cannot be read: ${e.message}`, error: true };
    }
  }
  if (stored && stored.pattern) {
    try {
      return { doc: S.checkDoc(stored.pattern), note: 'ready: your pattern from last time' };
    } catch (e) { /* an old or damaged one: the starter */ }
  }
  return { doc: null };
}

async function start() {
  wire();
  renderHistory();
  try {
    state.model = await (await api('/api/model')).json();
  } catch (e) {
    setStatus(`cannot load the model info: ${e.message}`, true);
    return;
  }
  const m = state.model;
  const d = m.defaults;
  state.stepsPerBar = m.steps_per_bar;
  const bars = $('bars');
  for (let b = 1; b <= m.max_bars; b++) bars.add(new Option(`${b}`, `${b}`));
  $('temperature').value = String(d.temperature);
  $('tempo').value = String(d.qpm);
  $('swing').value = String(d.swing * 100);
  if (m.controls) {
    $('control-strength').max = String(m.controls.max_strength);
    $('control-strength').value = String(m.controls.default_strength);
  }
  $('seed').value = String(randomSeed());
  const stored = S.loadStored();
  applySettings(stored && stored.settings);
  const humanize = $('humanize');
  humanize.disabled = !m.humanizer;
  humanize.closest('.switch').classList.toggle('disabled', !m.humanizer);
  if (!m.humanizer) humanize.closest('.switch').title = 'no humanizer loaded (the studio was started without one)';
  const file = m.source.split('/').pop();
  $('model-info').innerHTML = '';
  const chips = [['model', m.config], ['file', file], ['humanizer', m.humanizer ? 'on' : 'off']];
  if (m.controls) chips.push(['controls', 'style, fill, density']);
  for (const [k, v] of chips) {
    const item = el('span', 'chip');
    const key = el('b');
    key.textContent = k;
    item.append(key, document.createTextNode(` ${v}`));
    if (k === 'file') item.title = m.source;
    $('model-info').appendChild(item);
  }
  const first = startingPattern(stored);
  state.bars = d.bars;
  state.seedStep = d.seed_step;
  state.grid = P.starterGrid(numSteps());
  state.velocities = P.plainVelocities(state.grid);
  state.offsets = P.zeroOffsets(state.grid);
  bars.value = String(d.bars);
  buildControls();
  midi.build();
  showValues();
  buildGrid();
  if (first.doc) {
    applyDoc(first.doc);
    state.undo = [];
    renderHistory();
  }
  renderTransport();
  document.body.dataset.state = 'ready';
  changed();
  setStatus(first.note || 'ready: draw a primer left of the primer marker, then Generate', first.error);
}

window.studio = { state, transport, strip, endless, clip };  // for the console and the tests: read, don't rely on it
start();
