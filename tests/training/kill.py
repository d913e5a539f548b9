"""Imported with `--code` by the resume tests: a `before_update` callback that kills its own
process (SIGKILL: nothing gets to clean up) at the step REPSL_TEST_KILL_AT names, and, with
REPSL_TEST_NO_FOLD set, prediction without folding the adapters (then resuming is bit-exact)."""

import os
import signal

from spacy.util import registry

if os.environ.get("REPSL_TEST_NO_FOLD"):
    from spacy_repsl.models import fast_paths

    fast_paths.FAST_PATHS["fold_adapters"] = False


class Stop(Exception):
    """Raised instead of the kill where REPSL_TEST_RAISE is set (tests that resume in-process)."""


@registry.callbacks("repsl_test.kill_at_step.v1")
def kill_at_step():
    def before_update(nlp, args):
        at = os.environ.get("REPSL_TEST_KILL_AT")
        if at is not None and args["step"] == int(at):
            if os.environ.get("REPSL_TEST_RAISE"):
                raise Stop(f"stopped at step {at}")
            os.kill(os.getpid(), signal.SIGKILL)

    return before_update
