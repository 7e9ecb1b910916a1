"""The humanizer family: a velocity and a timing offset for every drum hit.

The performance grid, its dataset, the bidirectional LSTM, its training task, humanizing MIDI and
its evaluation on the Groove test split. Imports the foundations, `data`, `nn`, `training` and
`measure`.
"""
