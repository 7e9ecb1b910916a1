"""Measuring drumming: drum patterns on a grid, their features, set comparisons and likelihoods.

Imports the foundations and `data`; models are passed in as objects.
"""
