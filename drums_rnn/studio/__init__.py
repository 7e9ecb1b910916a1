"""drums_rnn studio: a drum machine in the browser over a loaded Drums RNN model (and the humanizer).

What lives here:

* `app`: the Flask app, `create_app(loaded, humanizer)`: the page and its
  JSON API over one compiled, warmed sampler shared by every request under
  one lock;
* `checks`: what the page sends, checked field by field (a bad value is a
  400 whose message names the JSON field, never a command-line flag);
* `server`: the web server around the app (the socket bound first, the
  threaded server, serving until Ctrl-C); `drums_rnn_studio`
  (drums_rnn/cli/drums_rnn_studio.py) is a thin wrapper that reads flags
  and calls `server.run`;
* `static/`: the page itself (plain HTML, JS and CSS; nothing is fetched
  from elsewhere).

What it may import: the foundations (`errors`, `encoding`, `midi`,
`performance`), the model's public entry points (`loading`, `generation`,
`humanize`), Flask and Werkzeug. Nothing else in the package imports the
studio, and the studio imports nothing from `cli/`.
"""
