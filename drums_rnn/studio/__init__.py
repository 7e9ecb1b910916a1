"""drums_rnn studio: a drum machine in the browser over a loaded model.

`app.create_app(loaded, humanizer)` builds the Flask app (one compiled
sampler, warmed at start-up, shared by every request under one lock);
`requests` checks what the page sends; `static/` is the page itself (plain
HTML, JS and CSS, nothing fetched from elsewhere). The command is
`drums_rnn_studio` (drums_rnn/cli/drums_rnn_studio.py).
"""
