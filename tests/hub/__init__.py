"""Tests of simsiam_zoo.hub, one module each."""
