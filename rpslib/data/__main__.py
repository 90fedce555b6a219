"""``python -m rpslib.data``: get the images and fill the tensor cache (``make test`` does)."""

from rpslib.data import prepare

prepare()
