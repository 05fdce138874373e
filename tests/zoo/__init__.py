"""Tests of simsiam_zoo.zoo, one module each; test_download also covers mirror.py, which publishes downloads."""
