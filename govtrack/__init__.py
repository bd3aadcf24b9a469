import sys

# py_ecc (pulled in by web3 and eth_account) raises the recursion limit to 100,000 when it is imported. Python's
# own parsers (json, the re compiler) then recurse until the C stack overflows, so one request of 100,000 "["
# killed a worker with SIGSEGV. It is imported here, before anything else can import it, and the limit it found
# is put back: later imports of it are no-ops, so nothing raises the limit again. Request bodies are also capped
# in depth (apps/core/parsers.py); this keeps any other deep input a RecursionError instead of a crash.
_RECURSION_LIMIT = sys.getrecursionlimit()
import py_ecc  # noqa: E402, F401

sys.setrecursionlimit(_RECURSION_LIMIT)

from govtrack.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
