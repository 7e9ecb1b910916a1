// drums_rnn studio: a worker that ticks every 20 ms. The scheduler runs on these ticks because a
// worker's timers keep their pace when the tab is in the background (the page's own are slowed to
// once a second there), so the drums and the MIDI sent to a DAW keep time while you work in it.
'use strict';
let timer = null;
onmessage = (event) => {
  if (event.data === 'start' && timer === null) timer = setInterval(() => postMessage('tick'), 20);
  if (event.data === 'stop' && timer !== null) { clearInterval(timer); timer = null; }
};
