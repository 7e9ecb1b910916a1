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

import os as _os

# TensorFlow's default CPU allocator hands every large tensor back to the OS
# and faults it in again on the next step; a training step here allocates
# dozens of 100+ MB activations per batch. Its BFC allocator keeps and reuses
# that memory: the default drum_kit train step measured 1.3-1.5x faster with
# it on a 2-core CPU (benchmarks/bench_train.py). TF reads the variable when it
# creates its CPU allocator (the first op), so this works as long as it runs
# before TF computes anything; set TF_CPU_ALLOCATOR_USE_BFC=0 to opt out.
_os.environ.setdefault('TF_CPU_ALLOCATOR_USE_BFC', '1')

__version__ = '0.1.0'
