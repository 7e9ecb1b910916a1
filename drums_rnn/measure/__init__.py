"""Measuring drumming: patterns, features, comparisons, classifiers.

Numpy only (no TensorFlow), so a measurement never depends on the model it
judges. :mod:`drums_rnn.measure.frozen_classifier` is the small model,
fitted once and stored as JSON numbers, that both shipped classifiers use,
and :mod:`drums_rnn.measure.style_classifier` tells five styles apart on
2-bar windows, to judge whether generated grooves follow the requested style.
"""
