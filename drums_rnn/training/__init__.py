"""The training engine: one loop for every model family, handed its family's task.

A run directory, the loop (`loop.train`), the compiled train step (`trainer`), the one evaluator,
checkpoints, summaries and validation, the eval job, the input pipeline and multi-worker set-up.
It imports the foundations, `data` and `nn`; never a model family: the family comes in as a
:class:`~drums_rnn.training.task.Task`.
"""
