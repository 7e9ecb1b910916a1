// Continues primers with the real @magenta/music MusicRNN, for tests/test_magentajs.py.
//
// Usage: node tests/js/continue_magentajs.js JOBS_JSON
//   JOBS_JSON: {"root": "<folder>", "jobs": [{"model": "<sub-folder of root>", "steps": 32,
//               "stepsPerQuarter": 4, "totalSteps": 16,
//               "notes": [{"pitch": 36, "step": 0}, ...]}, ...]}
// Serves `root` over HTTP on 127.0.0.1 (an ephemeral port: magenta.js fetches checkpoints, and
// neither file:// URLs nor plain paths work in Node), loads each model with new MusicRNN(url),
// runs continueSequenceAndReturnProbabilities without a temperature (argmax) and prints ONE JSON
// line on stdout: [{"notes": [{"pitch", "start", "end"}], "totalSteps", "probs": [[...], ...]}].
// magenta.js logs to stdout (console.log); those lines go to stderr here.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const stdoutLog = console.log;
console.log = (...args) => console.error(...args);

const mr = require('@magenta/music/node/music_rnn');

function serve(root) {
  const base = path.resolve(root);
  const server = http.createServer((request, response) => {
    const relative = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const file = path.resolve(base, '.' + relative);
    if (request.method !== 'GET' || !file.startsWith(base + path.sep)) {
      response.writeHead(403).end();
      return;
    }
    fs.readFile(file, (error, data) => {
      if (error) {
        response.writeHead(404).end();
        return;
      }
      const type = file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
      response.writeHead(200, {'Content-Type': type, 'Content-Length': data.length}).end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function primer(job) {
  return {
    quantizationInfo: {stepsPerQuarter: job.stepsPerQuarter},
    totalQuantizedSteps: job.totalSteps,
    notes: job.notes.map((n) => ({
      pitch: n.pitch, quantizedStartStep: n.step, quantizedEndStep: n.step + 1, isDrum: true, velocity: 100,
    })),
  };
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const server = await serve(spec.root);
  const url = `http://127.0.0.1:${server.address().port}`;
  const results = [];
  try {
    for (const job of spec.jobs) {
      const model = new mr.MusicRNN(`${url}/${job.model}`);
      await model.initialize();
      const out = await model.continueSequenceAndReturnProbabilities(primer(job), job.steps);
      const sequence = await out.sequence;
      results.push({
        notes: sequence.notes.map((n) => ({pitch: n.pitch, start: n.quantizedStartStep, end: n.quantizedEndStep})),
        totalSteps: sequence.totalQuantizedSteps,
        probs: out.probs.map((p) => Array.from(p)),
      });
      model.dispose();
    }
  } finally {
    server.close();
  }
  stdoutLog(JSON.stringify(results));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
