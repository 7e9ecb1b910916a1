"""The Drums RNN family: Magenta's LSTM (+ attention) language model over drum events.

The network, its training task, Magenta's checkpoint names and `.mag` generate graph, primers and
the batched sampler. Imports the foundations, `data`, `nn` and `training`.
"""
