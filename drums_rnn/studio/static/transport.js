// drums_rnn studio: the transport. It plays the pattern on a look-ahead scheduler whose clock is
// performance.now() (milliseconds, the clock Web MIDI timestamps use), so notes and MIDI clock go out
// with exact timestamps; the synthesised drums are placed on the audio clock through a mapping that is
// re-estimated as it plays. It leads (its own tempo; MIDI clock out, 24 per quarter, with Start and
// Stop) or follows a MIDI clock coming in (tempo from the clock, Start, Continue, Stop, Song Position).
//
// What it plays is asked from its host, step by step, just before the step is due:
//   host.steps()            steps in the loop;           host.stepMs()        ms per 16th at the tempo;
//   host.beforeStep(s, n, t) s: step in the loop, n: steps played since Start, t: when it sounds (the
//                           host may swap the pattern here: it is the seam of the loop);
//   host.hitsAt(s)          [{voice, delay (steps, swing + timing), velocity}] of the audible hits;
//   host.cursor(s)          the step now heard (-1: stopped).
// MIDI out (`transport.midi`): {output, channel (1..16), pitches [9], latencyMs, clock (send clock)}.
import { audioContext, hit } from './sound.js';

const NOTE_LENGTH_STEPS = 0.5;   // MIDI note length: half a step (drums: only the note-on matters)
const MIN_LOOKAHEAD_MS = 100;
const CLOCKS_PER_STEP = 6;       // 24 per quarter, 4 steps per quarter

export class Transport {
  constructor(host) {
    this.host = host;
    this.playing = false;
    this.following = false;   // driven by a MIDI clock coming in
    this.sound = true;        // synthesised drums on
    this.midi = null;
    this.queue = [];          // MIDI messages not yet sent: {time, data, pitch?, off?}
    this.cursorQueue = [];
    this.shown = -1;
    this.position = 0;        // steps since song start (where Continue resumes)
    this.clockIn = { times: [], count: 0, running: false, awaitFirst: false, scheduledUpTo: -1 };
    this.audioOffset = null;  // audio time (s) - performance time (s), smoothed
    this.lastSent = 0;
    this.ticker = null;
    this.onTempo = null;      // called with the tempo read from an incoming clock
    this.onFollow = null;     // called with 'start' | 'stop' when the incoming clock starts or stops
  }

  lookaheadMs() { return Math.max(MIN_LOOKAHEAD_MS, 0.75 * this.host.stepMs()); }

  // --- the clocks ----------------------------------------------------------------------------

  startTicker() {
    if (this.ticker) return;
    try {
      this.ticker = new Worker('/static/ticker.js');
      this.ticker.onmessage = () => this.tick();
      this.ticker.postMessage('start');
    } catch (e) {  // no workers: the page's own timer
      const timer = setInterval(() => this.tick(), 20);
      this.ticker = { postMessage: () => clearInterval(timer), terminate: () => clearInterval(timer) };
    }
  }

  stopTicker() {
    if (!this.ticker) return;
    this.ticker.postMessage('stop');
    this.ticker.terminate();
    this.ticker = null;
  }

  syncAudio() {
    if (!this.sound) return;
    let ctx;
    try { ctx = audioContext(); } catch (e) { this.sound = false; return; }
    if (ctx.state !== 'running') return;
    let measured;
    const stamp = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
    if (stamp && stamp.performanceTime > 0) measured = stamp.contextTime - stamp.performanceTime / 1000;
    else measured = ctx.currentTime - performance.now() / 1000;
    this.audioOffset = this.audioOffset === null || Math.abs(measured - this.audioOffset) > 0.05
      ? measured : 0.98 * this.audioOffset + 0.02 * measured;
  }

  // --- leading ---------------------------------------------------------------------------------

  play() {
    if (this.playing || this.following) return;
    this.syncAudio();
    this.playing = true;
    this.step = 0;
    this.count = 0;
    this.position = 0;
    this.nextTime = performance.now() + 60;
    this.horizon = this.nextTime;
    if (this.midi && this.midi.clock && this.midi.output) {
      const at = this.nextTime + this.midi.latencyMs;
      this.send([0xF2, 0, 0], at - 1);  // song position 0
      this.send([0xFA], at - 0.5);      // Start, then the first clock on the downbeat
    }
    this.startTicker();
    this.tick();
    this.drawCursor();
  }

  stop() {
    if (!this.playing) return;
    this.playing = false;
    if (!this.following) this.stopTicker();
    const midi = this.midi;
    const end = Math.max(performance.now(), this.flushAll());
    if (midi && midi.output) {
      if (midi.clock && !this.following) {
        try { midi.output.send([0xFC], end + 0.5); } catch (e) { /* a port that went away */ }  // Stop
      }
      this.allNotesOff(end + 1);
    }
    this.cursorQueue = [];
    this.moveCursor(-1);
  }

  tick() {
    this.syncAudio();
    if (this.playing && !this.following) {
      const until = performance.now() + this.lookaheadMs();
      while (this.nextTime < until) {
        const stepMs = this.host.stepMs();
        this.scheduleStep(this.nextTime, stepMs);
        this.nextTime += stepMs;
      }
      this.horizon = this.nextTime;
    }
    this.flush(false);
  }

  /** Schedules the loop's next step at performance time `time`; `stepMs` is its length. */
  scheduleStep(time, stepMs) {
    const steps = this.host.steps();
    this.step %= steps;
    this.host.beforeStep(this.step, this.count, time);
    const s = this.step % this.host.steps();
    const midi = this.midi && this.midi.output ? this.midi : null;
    for (const h of this.host.hitsAt(s)) {
      const at = time + h.delay * stepMs;
      if (this.sound && this.audioOffset !== null) hit(h.voice, at / 1000 + this.audioOffset, h.velocity);
      if (midi) this.noteOn(midi, h.voice, at + midi.latencyMs, h.velocity, stepMs);  // a past time: sent at once
    }
    if (midi && midi.clock && !this.following) {
      for (let k = 0; k < CLOCKS_PER_STEP; k++) this.send([0xF8], time + (k * stepMs) / CLOCKS_PER_STEP + midi.latencyMs);
    }
    this.cursorQueue.push({ step: s, time });
    this.step = s + 1;
    this.count += 1;
  }

  // --- MIDI out --------------------------------------------------------------------------------

  noteOn(midi, voice, time, velocity, stepMs) {
    const pitch = midi.pitches[voice];
    const channel = (midi.channel - 1) & 15;
    // A note still waiting for its note-off on this pitch ends just before this one starts.
    for (const m of this.queue) {
      if (m.off && m.pitch === pitch && m.channel === channel && m.time >= time) m.time = Math.max(time - 0.5, m.start + 0.1);
    }
    this.queue.push({ time, data: [0x90 | channel, pitch, Math.max(1, Math.min(127, Math.round(velocity)))] });
    this.queue.push({ time: time + NOTE_LENGTH_STEPS * stepMs, data: [0x80 | channel, pitch, 0], off: true,
                      pitch, channel, start: time });
  }

  send(data, time) { this.queue.push({ time, data }); }

  /**
   * Sends the queued messages that are due, in time order. A note-off waits until no note-on of
   * the same pitch can still be scheduled before it (the steps not yet scheduled start no earlier than
   * half a step before the horizon), so a late hit never has its note cut by an earlier note's off.
   */
  flush(all) {
    const midi = this.midi;
    if (!midi || !midi.output) { this.queue = []; return this.lastSent; }
    const safeOff = this.horizon - 0.5 * this.host.stepMs() - 1;
    const ready = [], waiting = [];
    for (const m of this.queue) ((all || (m.off ? m.time < safeOff : true)) ? ready : waiting).push(m);
    ready.sort((a, b) => a.time - b.time);
    for (const m of ready) {
      try { midi.output.send(m.data, m.time); } catch (e) { /* a port that went away */ }
      this.lastSent = Math.max(this.lastSent, m.time);
    }
    this.queue = waiting;
    return this.lastSent;
  }

  flushAll() { return this.flush(true); }

  allNotesOff(time) {
    const midi = this.midi;
    if (!midi || !midi.output) return;
    const channel = (midi.channel - 1) & 15;
    try {
      midi.output.send([0xB0 | channel, 123, 0], time);  // All Notes Off
      midi.output.send([0xB0 | channel, 120, 0], time);  // All Sound Off
    } catch (e) { /* a port that went away */ }
  }

  // --- following an incoming MIDI clock ------------------------------------------------------

  /** Handles one message from the MIDI input the studio follows (data bytes, timestamp in ms). */
  midiIn(data, timeStamp) {
    const status = data[0];
    const c = this.clockIn;
    if (status === 0xF8) this.clockTick(timeStamp);
    else if (status === 0xFA) { this.position = 0; this.startFollowing(); }
    else if (status === 0xFB) this.startFollowing();
    else if (status === 0xFC) this.stopFollowing();
    else if (status === 0xF2 && data.length >= 3) {
      this.position = (data[1] & 0x7F) | ((data[2] & 0x7F) << 7);  // in 16ths: one MIDI beat = 6 clocks
      c.count = this.position * CLOCKS_PER_STEP;
    }
  }

  clockStepMs() {
    const t = this.clockIn.times;
    if (t.length < 2) return this.host.stepMs();
    return ((t[t.length - 1] - t[0]) / (t.length - 1)) * CLOCKS_PER_STEP;
  }

  startFollowing() {
    const c = this.clockIn;
    if (!this.following) return;
    this.syncAudio();
    this.playing = true;
    c.running = true;
    c.awaitFirst = true;
    c.count = this.position * CLOCKS_PER_STEP;
    c.scheduledUpTo = this.position - 1;
    this.count = 0;
    this.step = this.position % this.host.steps();
    this.startTicker();
    this.drawCursor();
    if (this.onFollow) this.onFollow('start');
  }

  stopFollowing() {
    const c = this.clockIn;
    if (c.running) this.position = Math.ceil(c.count / CLOCKS_PER_STEP);
    c.running = false;
    if (this.playing) {
      this.playing = false;
      const end = Math.max(performance.now(), this.flushAll());
      this.allNotesOff(end + 1);
      this.cursorQueue = [];
      this.moveCursor(-1);
    }
    this.stopTicker();
    if (this.onFollow) this.onFollow('stop');
  }

  clockTick(time) {
    const c = this.clockIn;
    c.times.push(time);
    if (c.times.length > 25) c.times.shift();  // a quarter note of clocks
    if (c.times.length >= 2 && this.onTempo && c.times.length % 6 === 0) {
      this.onTempo(60000 / (this.clockStepMs() * 4));
    }
    if (!this.following || !c.running) return;
    if (c.awaitFirst) c.awaitFirst = false;  // the first clock after Start or Continue is the downbeat
    if (c.count % CLOCKS_PER_STEP === 0) {
      const s = c.count / CLOCKS_PER_STEP;
      const stepMs = this.clockStepMs();
      // This step (if not already) and the next one, predicted from the clock's tempo: a step of
      // look-ahead, so hits played early by the humanizer can still go out early.
      for (let k = Math.max(s, c.scheduledUpTo + 1); k <= s + 1; k++) {
        this.step = k % this.host.steps();
        this.scheduleStep(time + (k - s) * stepMs, stepMs);
        c.scheduledUpTo = k;
      }
      this.position = s + 1;
      this.horizon = time + 2 * stepMs;
      this.flush(false);
    }
    c.count += 1;
  }

  // --- the cursor ------------------------------------------------------------------------------

  drawCursor() {
    if (!this.playing) return;
    const now = performance.now();
    let show = this.shown;
    while (this.cursorQueue.length && this.cursorQueue[0].time <= now) show = this.cursorQueue.shift().step;
    if (show !== this.shown) this.moveCursor(show);
    requestAnimationFrame(() => this.drawCursor());
  }

  moveCursor(step) {
    this.shown = step;
    this.host.cursor(step);
  }
}
