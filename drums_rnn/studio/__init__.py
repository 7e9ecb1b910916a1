"""drums_rnn studio: a drum machine in the browser over a loaded Drums RNN model (and the humanizer).

What lives here:

* `app`: the Flask app, `create_app(loaded, humanizer)`: the page and its
  JSON API over one compiled, warmed sampler shared by every request under
  one lock;
* `checks`: what the page sends, checked field by field (a bad value is a
  400 whose message names the JSON field, never a command-line flag),
  the control fields of a model with controls included;
* `guard`: what the server lets in before any route runs (Host, Origin,
  JSON POSTs only, body size) and the security headers of every answer;
* `clips`: MIDI clips of grids, written exactly as long as the grid, and
  MIDI clips read back into grids;
* `server`: the web server around the app (the socket bound first, the
  bounded threaded server, serving until Ctrl-C); `drums_rnn_studio`
  (drums_rnn/cli/drums_rnn_studio.py) is a thin wrapper that reads flags
  and calls `server.run`;
* `static/`: the page itself (plain HTML, CSS and JavaScript modules: the
  pattern, the transport with Web MIDI, the synthesised kit, files and
  links; nothing is fetched from elsewhere).

What it may import: the foundations (`errors`, `encoding`, `controls`,
`midi`, `performance`), the model's public entry points (`loading`, `generation`,
`humanize`), Flask and Werkzeug. Nothing else in the package imports the
studio, and the studio imports nothing from `cli/`.
"""
