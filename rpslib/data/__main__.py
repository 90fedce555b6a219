"""``python -m rpslib.data``: get the images and fill the tensor cache (``make test`` does)."""

from rpslib.data import prepare

if __name__ == "__main__":  # importing this module (autodoc, a walk of the package) runs nothing
    prepare()
