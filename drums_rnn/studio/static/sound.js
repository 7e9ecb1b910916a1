// drums_rnn studio: synthesised drums (Web Audio). Nine voices in the grid's row order, built from
// oscillators and filtered noise: nothing is loaded, so the page works offline.

const audio = { ctx: null, out: null, noise: null };

export function audioContext() {
  if (!audio.ctx) {
    const ctx = new (window.AudioContext || window.webkitAudioContext)({ latencyHint: 'interactive' });
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

/** Plays voice `v` at audio time `t` (seconds) with MIDI velocity `velocity` (1..127). */
export function hit(v, t, velocity) {
  SYNTHS[v](Math.max(t, audio.ctx.currentTime), Math.pow(velocity / 127, 1.5));
}
