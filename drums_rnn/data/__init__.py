"""The dataset side: music files -> NoteSequences -> drum tracks -> SequenceExample TFRecords.

No TensorFlow here (creating a dataset costs less CPU than importing it). Imports only the
foundations at the package top (errors, files, progress, encoding, midi, configs), never a model
family or the training engine.
"""
