"""drums_rnn: Magenta's Drums RNN (LSTM + attention over drum events), rebuilt on TensorFlow 2.

Modules follow the data:
  configs    -> the one_drum / drum_kit configs and their hparams
  encoding   -> drum steps <-> class indices <-> model inputs (vectorised numpy)
  extraction -> NoteSequence -> drum tracks (Magenta's DrumsExtractor rules)
  dataset    -> create_dataset, TFRecord I/O, tf.data input pipelines
  model      -> the LSTM + attention network, weights named like Magenta's
  training   -> train and eval loops, summaries, checkpoints
  generation -> primers, batched sampling, beam search, MIDI out
  bundle     -> .mag read and write, Magenta checkpoint import
"""

__version__ = '0.1.0'
