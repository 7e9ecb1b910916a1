// drums_rnn studio: the page. Plain JavaScript modules, no build step, nothing loaded from elsewhere.
//
// The pattern (pattern.js) is the one piece of state every control works on: state.grid[t][v] (0/1,
// step t, voice v in the order of the server's "voices"), state.velocities and state.offsets beside it,
// and state.humanized (whether those came from the humanizer; the Humanize switch shows it). Every change
// pushes a snapshot on the undo stack. The server does the music (generate, regenerate, humanize, MIDI
// files); the page draws, plays (transport.js) and keeps the history.
//
// Requests run one at a time, and the page stays editable while they run: a result is merged into
// the pattern as it is when the result comes back (pattern.merge3), so cells changed meanwhile, or
// a grid resized meanwhile, are never overwritten or broken; the status line says what was kept.
import * as P from './pattern.js';
import { Transport } from './transport.js';

const ROW_COLOURS = ['#ff5a3c', '#ffc83c', '#3cd2ff', '#2ee6b4', '#b48cff', '#d67cff', '#ff7cd4',
                     '#ff9f5a', '#8ce65a'];
const ROW_NAMES = ['Kick', 'Snare', 'Closed hat', 'Open hat', 'Low tom', 'Mid tom', 'High tom',
                   'Crash', 'Ride'];
const MAX_UNDO = 200;

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
  undo: [],
  redo: [],
  results: 0,
};

const view = { cells: [], heads: [], rowHeads: [], checks: [], painting: null, settingMarker: false };

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
                          bars: state.bars, seedStep: state.seedStep, humanized: state.humanized });
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
}

// ---------------------------------------------------------------------------------------------
// Drawing

function el(tag, className, attrs) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function buildGrid() {
  const grid = $('grid');
  const steps = numSteps();
  grid.innerHTML = '';
  grid.style.setProperty('--steps', steps);
  grid.classList.toggle('dense', steps > 64);
  view.cells = []; view.heads = []; view.rowHeads = []; view.checks = [];
  // Header rows: bar numbers over their 16 steps, then beat numbers within each bar.
  const barRow = el('div', 'grow', { role: 'row' });
  barRow.appendChild(el('div', 'corner', { role: 'columnheader' }));
  for (let b = 0; b < state.bars; b++) {
    const bar = el('div', 'barhead', { role: 'columnheader' });
    bar.style.gridColumn = `${2 + b * state.stepsPerBar} / span ${state.stepsPerBar}`;
    bar.textContent = `Bar ${b + 1}`;
    barRow.appendChild(bar);
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
    const swatch = el('span', 'swatch', { 'aria-hidden': 'true' });
    const name = el('span', 'name');
    name.textContent = ROW_NAMES[v];
    label.append(check, swatch, name);
    rowHead.appendChild(label);
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
  cell.classList.toggle('timed', on && state.humanized);
  cell.style.setProperty('--off', off.toFixed(3));
  cell.setAttribute('aria-label', cellLabel(t, v));
  cell.setAttribute('aria-selected', on ? 'true' : 'false');
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
  placeMarker();
  document.body.dataset.hits = String(P.countHits(state.grid));
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
// Editing: paint cells, move the primer marker

function onPointerDown(event) {
  const target = event.target;
  if (target.classList.contains('cell')) {
    event.preventDefault();
    const t = Number(target.dataset.step), v = Number(target.dataset.voice);
    pushUndo();
    const value = state.grid[t][v] ? 0 : 1;
    view.painting = value;
    paint(t, v, value);
  } else if (target.classList.contains('head')) {
    event.preventDefault();
    view.settingMarker = true;
    setSeedStep(Number(target.dataset.step));
  }
}

function onPointerOver(event) {
  const target = event.target;
  if (view.painting !== null && target.classList.contains('cell')) {
    paint(Number(target.dataset.step), Number(target.dataset.voice), view.painting);
  } else if (view.settingMarker && (target.classList.contains('head') || target.classList.contains('cell'))) {
    setSeedStep(Number(target.dataset.step));
  }
}

function paint(t, v, value) {
  if (state.grid[t][v] === value) return;
  const velocity = value ? P.newHitVelocity(pattern(), v, state.humanized) : 0;
  state.grid[t][v] = value;
  state.velocities[t][v] = velocity;
  state.offsets[t][v] = 0;
  renderCell(t, v);
  document.body.dataset.hits = String(P.countHits(state.grid));
}

function onPointerUp() { view.painting = null; view.settingMarker = false; }

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
function swingUnit() { return 16; }

function nextSeed() {
  if (!$('lock-seed').checked) $('seed').value = String(randomSeed());
  const seed = Math.floor(Number($('seed').value));
  if (!Number.isFinite(seed) || seed < 0) throw new Error('the seed must be a whole number >= 0');
  return seed;
}

function randomSeed() { return Math.floor(Math.random() * 2147483647); }

function humanizeFields() {
  return { humanize: true, qpm: qpm() };
}

/** Merges a result (grid, and velocities/offsets when humanized) sent from `base`; returns a note on it. */
function land(base, baseBars, grid, velocities, offsets) {
  const humanizedNow = Boolean(velocities) && state.humanizeWanted;
  const result = P.resultPattern(base, grid, humanizedNow ? velocities : null, humanizedNow ? offsets : null);
  pushUndo();
  const { kept } = P.merge3(pattern(), base, result);
  if (humanizedNow) state.humanized = true;
  renderAll();
  const notes = [];
  if (kept) notes.push(`kept ${kept} cell${kept > 1 ? 's' : ''} you changed while it ran`);
  if (baseBars !== state.bars) {
    notes.push(baseBars < state.bars ? `it filled bars 1-${baseBars}; the bars added meanwhile are as they were`
      : `cut to the ${state.bars} bar${state.bars > 1 ? 's' : ''} you chose meanwhile`);
  }
  if (state.humanizeWanted && !humanizedNow) humanizeLater();
  return notes;
}

async function runModel(what, path, extra, check) {
  let seed;
  try { seed = nextSeed(); } catch (e) { setStatus(e.message, true); return; }
  await enqueue(async () => {
    setStatus(`${what}\u2026`);
    const started = performance.now();
    const base = copyPattern(), baseBars = state.bars, seedStep = state.seedStep;
    const body = Object.assign({ grid: base.grid, seed_step: seedStep, temperature: temperature(), seed, qpm: qpm() },
                               state.humanizeWanted ? humanizeFields() : {}, extra);
    let result;
    try {
      result = await (await api(path, body)).json();
    } catch (e) {
      setStatus(`${what} failed: ${e.message}`, true);
      return;
    }
    const unchanged = check ? check(base, result, seedStep) : null;
    const notes = land(base, baseBars, result.grid, result.velocities, result.offsets);
    const ms = Math.round(performance.now() - started);
    state.results += 1;
    document.body.dataset.results = String(state.results);
    if (unchanged) setStatus(unchanged + (notes.length ? `; ${notes.join('; ')}` : ''));
    else setStatus(`${what} done${state.humanized ? ', humanized' : ''}${notes.length ? `; ${notes.join('; ')}` : ''}`);
    $('result').textContent = `seed ${result.seed} \u00b7 ${ms} ms`;
  });
}

function generate() { return runModel('generate', '/api/generate', {}); }

function regenerate() {
  const ticked = view.checks.filter((c) => c.checked).map((c) => Number(c.dataset.voice));
  if (!ticked.length) {
    setStatus('tick the rows to regenerate first (the boxes by the row names)', true);
    return undefined;
  }
  const voices = ticked.map((v) => state.model.voices[v]);
  const names = ticked.map((v) => ROW_NAMES[v]).join(', ');
  const what = `regenerate ${ticked.length} row${ticked.length > 1 ? 's' : ''}`;
  return runModel(what, '/api/regenerate', { voices }, (base, result, from) => {
    if (P.differs(base.grid, result.grid, ticked, from)) return null;
    return `${what}: no change: the model kept the ${names} part${ticked.length > 1 ? 's' : ''} right of the `
      + 'primer marker as it was (try another seed or a higher temperature)';
  });
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
      result = await (await api('/api/humanize', { grid: base.grid, qpm: qpm(), seed })).json();
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

async function downloadMidi() {
  try {
    const body = { grid: state.grid, qpm: qpm(), swing: swing(), swing_unit: swingUnit(),
                   velocities: state.velocities, offsets: state.offsets };
    const blob = await (await api('/api/midi', body)).blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = 'drums_rnn_studio.mid';
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    setStatus(`MIDI written: drums_rnn_studio.mid (${state.bars} bars at ${qpm()} BPM)`);
  } catch (e) {
    setStatus(`MIDI download failed: ${e.message}`, true);
  }
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
// Playing

const transport = new Transport({
  steps: numSteps,
  stepMs: () => 60000 / qpm() / 4,
  beforeStep: () => {},
  hitsAt: (s) => {
    const row = state.grid[s];
    const hits = [];
    if (!row) return hits;
    const shift = P.swingShift(s, swing(), swingUnit());
    for (let v = 0; v < P.NUM_VOICES; v++) {
      if (!row[v]) continue;
      hits.push({ voice: v, delay: shift + state.offsets[s][v], velocity: state.velocities[s][v] || P.DEFAULT_VELOCITY });
    }
    return hits;
  },
  cursor: moveCursor,
});

let shownCursor = -1;

function moveCursor(step) {
  const old = shownCursor;
  if (old >= 0 && old < view.heads.length) {
    view.heads[old].classList.remove('cursor');
    for (const row of view.cells) row[old].classList.remove('cursor');
  }
  shownCursor = step;
  $('grid').dataset.cursor = String(step);
  if (step >= 0 && step < view.heads.length) {
    view.heads[step].classList.add('cursor');
    for (const row of view.cells) row[step].classList.add('cursor');
  }
}

function renderTransport() {
  const playing = transport.playing;
  document.body.classList.toggle('playing', playing);
  $('play').querySelector('.label').textContent = playing ? 'Stop' : 'Play';
  $('play').querySelector('.icon').textContent = playing ? '\u25A0' : '\u25B6';
  $('play').setAttribute('aria-pressed', playing ? 'true' : 'false');
}

function togglePlay() {
  if (transport.playing) transport.stop(); else transport.play();
  renderTransport();
}

// ---------------------------------------------------------------------------------------------
// Wiring

function showValues() {
  $('temperature-value').textContent = temperature().toFixed(2);
  $('tempo-value').textContent = `${qpm()} BPM`;
  $('swing-value').textContent = `${$('swing').value}%`;
}

function wire() {
  const grid = $('grid');
  grid.addEventListener('mousedown', onPointerDown);
  grid.addEventListener('mouseover', onPointerOver);
  window.addEventListener('mouseup', onPointerUp);
  window.addEventListener('resize', placeMarker);
  $('generate').addEventListener('click', generate);
  $('regenerate').addEventListener('click', regenerate);
  $('play').addEventListener('click', togglePlay);
  $('midi').addEventListener('click', downloadMidi);
  $('undo').addEventListener('click', undo);
  $('redo').addEventListener('click', redo);
  $('clear').addEventListener('click', clearGrid);
  $('humanize').addEventListener('change', onHumanizeSwitch);
  $('dice').addEventListener('click', () => { $('seed').value = String(randomSeed()); });
  for (const id of ['temperature', 'tempo', 'swing']) $(id).addEventListener('input', showValues);
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
    } else if (event.key === ' ' && !typing) {
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
  state.bars = d.bars;
  state.seedStep = d.seed_step;
  state.grid = P.starterGrid(numSteps());
  state.velocities = P.plainVelocities(state.grid);
  state.offsets = P.zeroOffsets(state.grid);
  const bars = $('bars');
  for (let b = 1; b <= m.max_bars; b++) bars.add(new Option(`${b}`, `${b}`));
  bars.value = String(d.bars);
  $('temperature').value = String(d.temperature);
  $('tempo').value = String(d.qpm);
  $('swing').value = String(d.swing * 100);
  $('seed').value = String(randomSeed());
  const humanize = $('humanize');
  humanize.disabled = !m.humanizer;
  humanize.closest('.switch').classList.toggle('disabled', !m.humanizer);
  if (!m.humanizer) humanize.closest('.switch').title = 'no humanizer loaded (the studio was started without one)';
  const file = m.source.split('/').pop();
  $('model-info').innerHTML = '';
  for (const [k, v] of [['model', m.config], ['file', file], ['humanizer', m.humanizer ? 'on' : 'off']]) {
    const item = el('span', 'chip');
    const key = el('b');
    key.textContent = k;
    item.append(key, document.createTextNode(` ${v}`));
    if (k === 'file') item.title = m.source;
    $('model-info').appendChild(item);
  }
  showValues();
  buildGrid();
  renderTransport();
  document.body.dataset.state = 'ready';
  setStatus('ready: draw a primer left of the primer marker, then Generate');
}

window.studio = { state, transport };  // for the console and the tests: read, don't rely on it
start();
