"""Tests of simsiam_zoo.features, one module each."""
