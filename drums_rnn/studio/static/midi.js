// drums_rnn studio: Web MIDI. The output port (remembered by name), the channel (10 by default), the
// pitch of each row (General MIDI, a drum rack's pads from C1, or your own), a latency offset and
// MIDI clock out; an input port whose clock the studio follows. The transport sends and receives;
// this module keeps the settings and the ports.

export const GM_PITCHES = [36, 38, 42, 46, 45, 48, 50, 49, 51];
export const RACK_PITCHES = [36, 37, 38, 39, 40, 41, 42, 43, 44];
const ROW_NAMES = ['Kick', 'Snare', 'Closed hat', 'Open hat', 'Low tom', 'Mid tom', 'High tom', 'Crash', 'Ride'];

const $ = (id) => document.getElementById(id);

export const midiSettings = {
  enabled: false,   // asked for access once: asked again on the next visit
  outName: '',
  inName: '',
  channel: 10,
  map: 'gm',
  pitches: GM_PITCHES.slice(),
  latencyMs: 0,
  clock: false,
  follow: false,
};

export class Midi {
  /**
   * @param transport the Transport (its `midi` is set from the settings; its midiIn gets the input)
   * @param hooks {changed(): the settings changed (save them), status(text, isError), tempo(bpm),
   *               follow(started: bool)}
   */
  constructor(transport, hooks) {
    this.transport = transport;
    this.hooks = hooks;
    this.access = null;
    this.output = null;
    this.input = null;
  }

  build() {
    const channel = $('midi-channel');
    for (let c = 1; c <= 16; c++) channel.add(new Option(String(c), String(c)));
    const list = $('pitch-list');
    list.innerHTML = '';
    for (let v = 0; v < 9; v++) {
      const label = document.createElement('label');
      label.className = 'pitch';
      const name = document.createElement('span');
      name.textContent = ROW_NAMES[v];
      const input = document.createElement('input');
      input.type = 'number';
      input.min = '0';
      input.max = '127';
      input.id = `pitch-${v}`;
      input.setAttribute('aria-label', `MIDI pitch of ${ROW_NAMES[v]}`);
      input.addEventListener('change', () => this.onPitch(v, input));
      label.append(name, input);
      list.appendChild(label);
    }
    $('midi-enable').addEventListener('click', () => this.enable());
    $('midi-out').addEventListener('change', () => { this.chooseOutput($('midi-out').value); this.changed(); });
    $('midi-in').addEventListener('change', () => { this.chooseInput($('midi-in').value); this.changed(); });
    channel.addEventListener('change', () => { midiSettings.channel = Number(channel.value); this.changed(); });
    $('midi-map').addEventListener('change', () => {
      midiSettings.map = $('midi-map').value;
      if (midiSettings.map === 'gm') midiSettings.pitches = GM_PITCHES.slice();
      if (midiSettings.map === 'rack') midiSettings.pitches = RACK_PITCHES.slice();
      this.changed();
    });
    $('midi-latency').addEventListener('change', () => {
      const value = Math.round(Number($('midi-latency').value));
      midiSettings.latencyMs = Number.isFinite(value) ? Math.max(-80, Math.min(250, value)) : 0;
      this.changed();
    });
    $('clock-out').addEventListener('change', () => {
      midiSettings.clock = $('clock-out').checked;
      if (midiSettings.clock) midiSettings.follow = false;  // leading and following at once would loop
      this.changed();
    });
    $('follow-clock').addEventListener('change', () => {
      midiSettings.follow = $('follow-clock').checked;
      if (midiSettings.follow) midiSettings.clock = false;
      this.changed();
    });
    this.render();
    if (midiSettings.enabled) this.enable();
  }

  onPitch(v, input) {
    const value = Math.round(Number(input.value));
    if (!Number.isFinite(value) || value < 0 || value > 127) {
      input.value = String(midiSettings.pitches[v]);
      this.hooks.status(`a MIDI pitch is 0 to 127, got ${input.value}`, true);
      return;
    }
    midiSettings.pitches[v] = value;
    midiSettings.map = 'custom';
    this.changed();
  }

  changed() {
    this.apply();
    this.render();
    this.hooks.changed();
  }

  async enable() {
    if (!navigator.requestMIDIAccess) {
      $('midi-state').textContent = 'this browser has no Web MIDI';
      return;
    }
    try {
      this.access = await navigator.requestMIDIAccess({ sysex: false });
    } catch (e) {
      $('midi-state').textContent = `MIDI refused: ${e.message || e.name || e}`;
      return;
    }
    midiSettings.enabled = true;
    this.access.onstatechange = () => this.listPorts();
    this.listPorts();
    this.hooks.changed();
  }

  listPorts() {
    const fill = (select, ports, chosen) => {
      select.innerHTML = '';
      select.add(new Option('none', ''));
      for (const port of ports) select.add(new Option(port.name, port.id));
      const match = ports.find((p) => p.name === chosen);
      select.value = match ? match.id : '';
      select.disabled = false;
    };
    const outs = [...this.access.outputs.values()];
    const ins = [...this.access.inputs.values()];
    fill($('midi-out'), outs, midiSettings.outName);
    fill($('midi-in'), ins, midiSettings.inName);
    this.output = outs.find((p) => p.name === midiSettings.outName) || null;
    this.setInput(ins.find((p) => p.name === midiSettings.inName) || null);
    this.apply();
    this.render();
  }

  chooseOutput(id) {
    this.output = id && this.access ? this.access.outputs.get(id) || null : null;
    midiSettings.outName = this.output ? this.output.name : '';
  }

  chooseInput(id) {
    this.setInput(id && this.access ? this.access.inputs.get(id) || null : null);
    midiSettings.inName = this.input ? this.input.name : '';
  }

  setInput(port) {
    if (this.input && this.input !== port) this.input.onmidimessage = null;
    this.input = port;
    if (port) port.onmidimessage = (event) => this.transport.midiIn(event.data, event.timeStamp);
  }

  /** The transport's MIDI out from the settings. */
  apply() {
    const t = this.transport;
    t.midi = { output: this.output, channel: midiSettings.channel, pitches: midiSettings.pitches.slice(),
               latencyMs: midiSettings.latencyMs, clock: midiSettings.clock };
    const follow = midiSettings.follow && Boolean(this.input);
    if (t.following !== follow) {
      if (t.playing) t.stop();
      t.following = follow;
      if (follow) t.startTicker(); else t.stopTicker();
      this.hooks.follow(false);
    }
  }

  render() {
    $('midi-channel').value = String(midiSettings.channel);
    $('midi-map').value = midiSettings.map;
    $('midi-latency').value = String(midiSettings.latencyMs);
    $('clock-out').checked = midiSettings.clock;
    $('follow-clock').checked = midiSettings.follow;
    midiSettings.pitches.forEach((p, v) => { $(`pitch-${v}`).value = String(p); });
    $('midi-enable').hidden = Boolean(this.access);
    let text = 'MIDI off';
    if (this.access) {
      const parts = [this.output ? `out: ${this.output.name}, channel ${midiSettings.channel}` : 'no output chosen'];
      if (midiSettings.follow) parts.push(this.input ? `following the clock of ${this.input.name}` : 'choose a MIDI in to follow');
      else if (midiSettings.clock) parts.push('sending clock');
      text = parts.join('; ');
    }
    $('midi-state').textContent = text;
  }
}
