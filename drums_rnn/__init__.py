"""drums_rnn: Magenta's Drums RNN (LSTM + attention over drum events), rebuilt on TensorFlow 2.

Importing the package (or any module of it) changes nothing in the process;
the commands set the process up with :func:`drums_rnn.runtime.configure_process`.
docs/design.md maps the modules in the order the data flows through them.
"""

__version__ = '0.1.0'
