"""Tests; a package so that `tests.hub_server` imports however pytest is started."""
