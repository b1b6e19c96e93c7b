"""The conformance kit: the rules of docs/protocol.md, run against a live server over HTTP.

    python -m sync_protocol.conformance URL --enrollment-token TOKEN

This subpackage is the one corner of ``sync_protocol`` that does I/O (it speaks HTTP through
httpx); every other module stays pure, and none of them imports it. It enrolls one device with
the engineer's token, so point it at a test deployment: it pushes a note to one of that
engineer's jobs and uploads a small blob. Each rule prints ``PASS`` or ``FAIL`` with what was
expected and what came back; the exit status is 1 when any rule is broken.
"""

from .kit import RULES, Outcome, Run, run

__all__ = ["RULES", "Outcome", "Run", "run"]
