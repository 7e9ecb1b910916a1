// drums_rnn studio: the page. Plain JavaScript, no build step, nothing loaded from elsewhere.
//
// The grid is the one piece of state every control works on: state.grid[t][v] (0/1, step t,
// voice v in the order of the server's "voices"), with optional humanized velocities and
// offsets beside it. Every change that replaces the grid first pushes a snapshot on the undo
// stack. The server does the music (generate, regenerate, humanize, MIDI); the page draws,
// plays (Web Audio, synthesised drums) and keeps the undo history.
'use strict';

const ROW_COLOURS = ['#ff5a3c', '#ffc83c', '#3cd2ff', '#2ee6b4', '#b48cff', '#d67cff', '#ff7cd4',
                     '#ff9f5a', '#8ce65a'];
const ROW_NAMES = ['Kick', 'Snare', 'Closed hat', 'Open hat', 'Low tom', 'Mid tom', 'High tom',
                   'Crash', 'Ride'];
const MAX_UNDO = 200;
const LOOKAHEAD_S = 0.12;   // how far ahead the scheduler queues notes
const TICK_MS = 25;         // how often it looks

const $ = (id) => document.getElementById(id);

const state = {
  model: null,
  stepsPerBar: 16,
  bars: 2,
  grid: [],          // [T][9] 0/1
  velocities: null,  // [T][9] 1..127 where humanized (0 = not), or null
  offsets: null,     // [T][9] fractions of a step, or null
  seedStep: 16,
  undo: [],
  busy: false,
  results: 0,
};

const view = { cells: [], heads: [], rows: [], checks: [], painting: null, settingSeed: false };

// ---------------------------------------------------------------------------------------------
// Grid state

function numSteps() { return state.bars * state.stepsPerBar; }

function emptyGrid(steps) { return Array.from({ length: steps }, () => new Array(9).fill(0)); }

function starterGrid(steps) {
  // A plain rock beat in the first bar, so Generate has something to continue at once.
  const grid = emptyGrid(steps);
  for (let t = 0; t < Math.min(16, steps); t++) {
    if (t % 8 === 0) grid[t][0] = 1;
    if (t % 8 === 4) grid[t][1] = 1;
    if (t % 2 === 0) grid[t][2] = 1;
  }
  if (steps > 10) grid[10][0] = 1;
  return grid;
}

function snapshot() {
  return JSON.stringify({ grid: state.grid, velocities: state.velocities, offsets: state.offsets,
                          bars: state.bars, seedStep: state.seedStep });
}

function pushUndo() {
  state.undo.push(snapshot());
  if (state.undo.length > MAX_UNDO) state.undo.shift();
  $('undo').disabled = false;
}

function undo() {
  const last = state.undo.pop();
  $('undo').disabled = state.undo.length === 0;
  if (!last) { setStatus('nothing to undo'); return; }
  const s = JSON.parse(last);
  const rebuild = s.bars !== state.bars;
  Object.assign(state, { grid: s.grid, velocities: s.velocities, offsets: s.offsets, bars: s.bars,
                         seedStep: s.seedStep });
  $('bars').value = String(state.bars);
  if (rebuild) buildGrid(); else renderAll();
  setStatus('undone');
}

function resize(bars) {
  const steps = bars * state.stepsPerBar;
  const fit = (rows, fill) => rows && Array.from({ length: steps },
    (_, t) => (t < rows.length ? rows[t] : new Array(9).fill(fill)));
  state.grid = fit(state.grid, 0);
  state.velocities = fit(state.velocities, 0);
  state.offsets = fit(state.offsets, 0);
  state.bars = bars;
  state.seedStep = Math.min(state.seedStep, steps - 1);
}

// ---------------------------------------------------------------------------------------------
// Drawing

function buildGrid() {
  const grid = $('grid');
  const steps = numSteps();
  grid.innerHTML = '';
  grid.style.setProperty('--steps', steps);
  grid.classList.toggle('dense', steps > 64);  // 5 to 8 bars: narrower cells, so they fit a laptop screen
  view.cells = []; view.heads = []; view.rows = []; view.checks = [];
  const corner = document.createElement('div');
  corner.className = 'corner';
  corner.textContent = 'step';
  grid.appendChild(corner);
  for (let t = 0; t < steps; t++) {
    const head = document.createElement('div');
    head.className = 'head' + beatClass(t);
    head.dataset.step = t;
    head.textContent = t % 16 === 0 ? String(t / 16 + 1) : (t % 4 === 0 ? String((t % 16) / 4 + 1) : '\u00b7');
    head.title = `bar ${Math.floor(t / 16) + 1}, step ${t % 16 + 1}: click to put the seed marker here`;
    grid.appendChild(head);
    view.heads.push(head);
  }
  const labels = (state.model && state.model.voice_labels) || ROW_NAMES;
  for (let v = 0; v < 9; v++) {
    const row = document.createElement('label');
    row.className = 'rowname';
    row.style.setProperty('--c', ROW_COLOURS[v]);
    row.title = `${labels[v]}: tick to regenerate this row`;
    const check = document.createElement('input');
    check.type = 'checkbox';
    check.className = 'rowcheck';
    check.dataset.voice = v;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = ROW_NAMES[v];
    row.append(check, swatch, name);
    grid.appendChild(row);
    view.rows.push(row);
    view.checks.push(check);
    const cellsOfRow = [];
    for (let t = 0; t < steps; t++) {
      const cell = document.createElement('div');
      cell.className = 'cell' + beatClass(t);
      cell.style.setProperty('--c', ROW_COLOURS[v]);
      cell.dataset.step = t;
      cell.dataset.voice = v;
      grid.appendChild(cell);
      cellsOfRow.push(cell);
    }
    view.cells.push(cellsOfRow);
  }
  $('seed-step').max = String(steps - 1);
  renderAll();
}

function beatClass(t) {
  return (t % 16 === 0 ? ' bar' : (t % 4 === 0 ? ' beat' : '')) + (Math.floor(t / 4) % 2 ? ' odd-beat' : '');
}

function renderCell(t, v) {
  const cell = view.cells[v][t];
  const on = state.grid[t][v] === 1;
  cell.classList.toggle('on', on);
  cell.classList.toggle('gen', t >= state.seedStep);
  const vel = on && state.velocities ? state.velocities[t][v] : 0;
  cell.style.setProperty('--a', vel ? (0.22 + 0.78 * vel / 127).toFixed(3) : '1');
  const off = on && state.offsets ? state.offsets[t][v] : 0;
  cell.classList.toggle('timed', on && state.offsets !== null);
  cell.style.setProperty('--off', off.toFixed(3));
  cell.title = on ? `${ROW_NAMES[v]} at step ${t + 1}` + (vel ? `, velocity ${vel}` : '')
    + (state.offsets ? `, offset ${(off * 100).toFixed(0)}% of a step` : '') : '';
}

function renderAll() {
  const steps = numSteps();
  for (let v = 0; v < 9; v++) for (let t = 0; t < steps; t++) renderCell(t, v);
  view.heads.forEach((head, t) => {
    head.classList.toggle('gen', t >= state.seedStep);
    head.classList.toggle('seed', t === state.seedStep);
  });
  $('seed-step').value = String(state.seedStep);
  placeSeedLine();
  document.body.dataset.hits = String(state.grid.flat().reduce((a, b) => a + b, 0));
}

function placeSeedLine() {
  const head = view.heads[state.seedStep];
  const line = $('seed-line');
  if (!head) return;
  line.style.left = `${head.offsetLeft - 2}px`;
  line.style.height = `${$('grid').offsetHeight}px`;
}

function setSeedStep(t) {
  const steps = numSteps();
  const clamped = Math.max(1, Math.min(steps - 1, Math.round(t)));
  if (clamped === state.seedStep) return;
  state.seedStep = clamped;
  renderAll();
}

// ---------------------------------------------------------------------------------------------
// Mouse: paint cells, move the seed marker

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
    view.settingSeed = true;
    setSeedStep(Number(target.dataset.step));
  }
}

function onPointerOver(event) {
  const target = event.target;
  if (view.painting !== null && target.classList.contains('cell')) {
    paint(Number(target.dataset.step), Number(target.dataset.voice), view.painting);
  } else if (view.settingSeed && (target.classList.contains('head') || target.classList.contains('cell'))) {
    setSeedStep(Number(target.dataset.step));
  }
}

function paint(t, v, value) {
  if (state.grid[t][v] === value) return;
  state.grid[t][v] = value;
  if (state.velocities) state.velocities[t][v] = 0;
  if (state.offsets) state.offsets[t][v] = 0;
  renderCell(t, v);
  document.body.dataset.hits = String(state.grid.flat().reduce((a, b) => a + b, 0));
}

function onPointerUp() { view.painting = null; view.settingSeed = false; }

// ---------------------------------------------------------------------------------------------
// The server

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

function setStatus(text, isError) {
  const status = $('status');
  status.textContent = text;
  status.classList.toggle('error', Boolean(isError));
}

function setBusy(busy) {
  state.busy = busy;
  document.body.classList.toggle('busy', busy);
  for (const id of ['generate', 'regenerate']) $(id).disabled = busy;
}

function qpm() { return Number($('tempo').value); }
function temperature() { return Number($('temperature').value); }
function swing() { return Number($('swing').value) / 100; }

function nextSeed() {
  if (!$('lock-seed').checked) $('seed').value = String(randomSeed());
  const seed = Math.floor(Number($('seed').value));
  if (!Number.isFinite(seed) || seed < 0) throw new Error('the seed must be a whole number >= 0');
  return seed;
}

function randomSeed() { return Math.floor(Math.random() * 2147483647); }

async function run(what, path, extra) {
  if (state.busy) return;
  let seed;
  try { seed = nextSeed(); } catch (e) { setStatus(e.message, true); return; }
  setBusy(true);
  setStatus(`${what}\u2026`);
  const started = performance.now();
  try {
    const body = Object.assign({ grid: state.grid, seed_step: state.seedStep,
                                 temperature: temperature(), seed, qpm: qpm() }, extra);
    const result = await (await api(path, body)).json();
    pushUndo();
    state.grid = result.grid;
    state.velocities = null;
    state.offsets = null;
    let note = '';
    if ($('humanize').checked) {
      await humanizeGrid(result.seed);
      note = ', humanized';
    }
    renderAll();
    const ms = Math.round(performance.now() - started);
    state.results += 1;
    document.body.dataset.results = String(state.results);
    setStatus(`${what} done${note}`);
    $('result').textContent = `seed ${result.seed} \u00b7 log-likelihood ${result.log_likelihood.toFixed(2)}`
      + ` \u00b7 ${ms} ms`;
  } catch (e) {
    setStatus(`${what} failed: ${e.message}`, true);
  } finally {
    setBusy(false);
  }
}

function generate() { return run('generate', '/api/generate', {}); }

function regenerate() {
  const voices = view.checks.filter((c) => c.checked).map((c) => state.model.voices[Number(c.dataset.voice)]);
  if (!voices.length) {
    setStatus('tick the rows to regenerate first (the boxes by the row names)', true);
    return undefined;
  }
  return run(`regenerate ${voices.length} row${voices.length > 1 ? 's' : ''}`, '/api/regenerate', { voices });
}

async function humanizeGrid(seed) {
  const result = await (await api('/api/humanize', { grid: state.grid, qpm: qpm(), seed })).json();
  state.velocities = result.velocities;
  state.offsets = result.offsets;
}

async function onHumanizeSwitch() {
  if (!$('humanize').checked) {
    pushUndo();
    state.velocities = null;
    state.offsets = null;
    renderAll();
    setStatus('humanize off: every hit at velocity 100, on the grid');
    return;
  }
  if (state.busy) return;
  setBusy(true);
  try {
    pushUndo();
    await humanizeGrid(nextSeed());
    renderAll();
    setStatus('humanized: shading shows velocity, the tick in each hit its timing');
  } catch (e) {
    setStatus(`humanize failed: ${e.message}`, true);
  } finally {
    setBusy(false);
  }
}

async function downloadMidi() {
  try {
    const body = { grid: state.grid, qpm: qpm(), swing: swing() };
    if (state.velocities) body.velocities = state.velocities;
    if (state.offsets) body.offsets = state.offsets;
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
  state.grid = emptyGrid(numSteps());
  state.velocities = null;
  state.offsets = null;
  renderAll();
  setStatus('cleared');
}

// ---------------------------------------------------------------------------------------------
// Sound: synthesised drums on a look-ahead scheduler (Web Audio time, not timers, sets the beat)

const audio = { ctx: null, out: null, noise: null, timer: null, nextTime: 0, step: 0, queue: [],
                shown: -1 };

function ensureAudio() {
  if (!audio.ctx) {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const comp = ctx.createDynamicsCompressor();
    comp.threshold.value = -12;
    comp.ratio.value = 4;
    comp.connect(ctx.destination);
    const out = ctx.createGain();
    out.gain.value = 0.8;
    out.connect(comp);
    const noise = ctx.createBuffer(1, ctx.sampleRate, ctx.sampleRate);
    const data = noise.getChannelData(0);
    for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
    Object.assign(audio, { ctx, out, noise });
  }
  if (audio.ctx.state === 'suspended') audio.ctx.resume();
  return audio.ctx;
}

function envelope(t, peak, decay) {
  const g = audio.ctx.createGain();
  g.gain.setValueAtTime(0.0001, t);
  g.gain.exponentialRampToValueAtTime(Math.max(peak, 0.0002), t + 0.003);
  g.gain.exponentialRampToValueAtTime(0.0001, t + decay);
  g.connect(audio.out);
  return g;
}

function tone(t, type, from, to, drop, decay, level) {
  const osc = audio.ctx.createOscillator();
  osc.type = type;
  osc.frequency.setValueAtTime(from, t);
  osc.frequency.exponentialRampToValueAtTime(to, t + drop);
  osc.connect(envelope(t, level, decay));
  osc.start(t);
  osc.stop(t + decay + 0.05);
}

function noise(t, filterType, frequency, q, decay, level) {
  const src = audio.ctx.createBufferSource();
  src.buffer = audio.noise;
  src.loop = true;
  const filter = audio.ctx.createBiquadFilter();
  filter.type = filterType;
  filter.frequency.value = frequency;
  filter.Q.value = q;
  src.connect(filter);
  filter.connect(envelope(t, level, decay));
  src.start(t, Math.random() * 0.5);
  src.stop(t + decay + 0.05);
}

const SYNTHS = [
  (t, a) => { tone(t, 'sine', 160, 42, 0.11, 0.45, a); tone(t, 'triangle', 900, 120, 0.02, 0.03, 0.25 * a); },
  (t, a) => { noise(t, 'highpass', 1300, 0.7, 0.2, 0.7 * a); tone(t, 'triangle', 200, 165, 0.08, 0.12, 0.45 * a); },
  (t, a) => noise(t, 'highpass', 7500, 0.8, 0.05, 0.42 * a),
  (t, a) => noise(t, 'highpass', 6800, 0.8, 0.38, 0.36 * a),
  (t, a) => tone(t, 'sine', 115, 72, 0.18, 0.42, 0.85 * a),
  (t, a) => tone(t, 'sine', 165, 112, 0.16, 0.36, 0.8 * a),
  (t, a) => tone(t, 'sine', 230, 165, 0.14, 0.3, 0.75 * a),
  (t, a) => { noise(t, 'bandpass', 5200, 0.5, 1.5, 0.55 * a); noise(t, 'highpass', 9000, 0.7, 0.9, 0.2 * a); },
  (t, a) => { noise(t, 'bandpass', 8500, 2.5, 0.75, 0.4 * a); tone(t, 'triangle', 2900, 2700, 0.3, 0.4, 0.05 * a); },
];

function stepSeconds() { return 60 / qpm() / 4; }

function scheduleStep(step, time) {
  const ctx = audio.ctx;
  const dur = stepSeconds();
  const swingShift = step % 2 === 1 ? swing() * dur : 0;
  const row = state.grid[step];
  if (!row) return;
  for (let v = 0; v < 9; v++) {
    if (!row[v]) continue;
    const vel = (state.velocities && state.velocities[step][v]) || 100;
    const off = state.offsets ? state.offsets[step][v] : 0;
    const at = Math.max(time + swingShift + off * dur, ctx.currentTime);
    SYNTHS[v](at, Math.pow(vel / 127, 1.5));
  }
  audio.queue.push({ step, time });
}

function tick() {
  const ctx = audio.ctx;
  while (audio.nextTime < ctx.currentTime + LOOKAHEAD_S) {
    audio.step %= numSteps();
    scheduleStep(audio.step, audio.nextTime);
    audio.nextTime += stepSeconds();
    audio.step += 1;
  }
}

function drawCursor() {
  if (!audio.timer) return;
  const now = audio.ctx.currentTime;
  let show = audio.shown;
  while (audio.queue.length && audio.queue[0].time <= now) show = audio.queue.shift().step;
  if (show !== audio.shown) moveCursor(show);
  requestAnimationFrame(drawCursor);
}

function moveCursor(step) {
  const old = audio.shown;
  if (old >= 0 && old < view.heads.length) {
    view.heads[old].classList.remove('cursor');
    for (const row of view.cells) row[old].classList.remove('cursor');
  }
  audio.shown = step;
  $('grid').dataset.cursor = String(step);
  if (step >= 0 && step < view.heads.length) {
    view.heads[step].classList.add('cursor');
    for (const row of view.cells) row[step].classList.add('cursor');
  }
}

function play() {
  const ctx = ensureAudio();
  audio.step = 0;
  audio.queue = [];
  audio.nextTime = ctx.currentTime + 0.06;
  audio.timer = setInterval(tick, TICK_MS);
  tick();
  document.body.classList.add('playing');
  $('play').querySelector('.label').textContent = 'Stop';
  $('play').querySelector('.icon').innerHTML = '&#9632;';
  requestAnimationFrame(drawCursor);
}

function stop() {
  clearInterval(audio.timer);
  audio.timer = null;
  audio.queue = [];
  moveCursor(-1);
  document.body.classList.remove('playing');
  $('play').querySelector('.label').textContent = 'Play';
  $('play').querySelector('.icon').innerHTML = '&#9654;';
}

function togglePlay() { if (audio.timer) stop(); else play(); }

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
  window.addEventListener('resize', placeSeedLine);
  $('generate').addEventListener('click', generate);
  $('regenerate').addEventListener('click', regenerate);
  $('play').addEventListener('click', togglePlay);
  $('midi').addEventListener('click', downloadMidi);
  $('undo').addEventListener('click', undo);
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
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'z' && !typing) {
      event.preventDefault();
      undo();
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
  $('undo').disabled = true;
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
  state.grid = starterGrid(numSteps());
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
  if (!m.humanizer) humanize.closest('.switch').title = 'no humanizer loaded (drums_rnn_studio --humanize)';
  const file = m.source.split('/').pop();
  $('model-info').innerHTML = '';
  for (const [k, v] of [['model', m.config], ['file', file], ['humanizer', m.humanizer ? 'on' : 'off']]) {
    const item = document.createElement('span');
    item.className = 'chip';
    item.innerHTML = `<b>${k}</b> `;
    item.append(document.createTextNode(v));
    item.title = k === 'file' ? m.source : '';
    $('model-info').appendChild(item);
  }
  showValues();
  buildGrid();
  document.body.dataset.state = 'ready';
  setStatus('ready: draw a primer left of the seed marker, then Generate');
}

start();
