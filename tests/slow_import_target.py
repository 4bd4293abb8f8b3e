"""A sandbox target whose import takes 30 s: a fork server still starting up."""

import time

time.sleep(30)


def analyse(path: str) -> None:
    """Never reached in the tests."""
