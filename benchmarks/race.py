"""The race to a good language model as the last part of ``make bench``: ``scripts/race.py`` (rnnlab's
presets against faster-rnnlm with direct connections, timed to every validation perplexity) runs when
two environment variables say where its inputs are, since neither ships with rnnlab:

    RACE_FRNN=/path/to/faster-rnnlm/rnnlm   the binary, built from its public source (../shared/PEERS.md)
    RACE_CORPUS=/path/to/dir                 train.txt, valid.txt, test.txt (../shared/corpora/fortunes.sh)
    RACE_NCE=1                               also faster-rnnlm with NCE + direct (about two minutes more)

Without them it prints one line saying so and exits 0; with a binary or corpus that is not there, one line
saying which and exit status 2. ``python -m benchmarks.race``.
"""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "race.py")
HOW = ("race against faster-rnnlm skipped: set RACE_FRNN=<faster-rnnlm's rnnlm binary> and RACE_CORPUS=<dir with "
       "train.txt valid.txt test.txt> (RACE_NCE=1 adds NCE) to run scripts/race.py here")


class RaceSetupError(ValueError):
    """RACE_FRNN or RACE_CORPUS set to something that cannot be used."""


def command(env) -> list | None:
    """The ``scripts/race.py`` command line that ``env`` asks for, or None when the race is not asked for.

    Raises:
        RaceSetupError: only one of the two variables set, a binary that is not an executable file, or a
            corpus directory without its three files.
    """
    frnn, corpus = env.get("RACE_FRNN", ""), env.get("RACE_CORPUS", "")
    if not frnn and not corpus:
        return None
    if not (frnn and corpus):
        raise RaceSetupError(f"set both RACE_FRNN and RACE_CORPUS (only {'RACE_FRNN' if frnn else 'RACE_CORPUS'} "
                             f"is set)")
    if not (os.path.isfile(frnn) and os.access(frnn, os.X_OK)):
        raise RaceSetupError(f"RACE_FRNN={frnn} is not an executable file (faster-rnnlm's rnnlm binary)")
    missing = [f for f in ("train.txt", "valid.txt", "test.txt") if not os.path.isfile(os.path.join(corpus, f))]
    if missing:
        raise RaceSetupError(f"RACE_CORPUS={corpus} lacks {', '.join(missing)}")
    return [sys.executable, SCRIPT, corpus, "--frnn", frnn] + (["--nce"] if env.get("RACE_NCE") == "1" else [])


def main(env=None) -> int:
    """Run the race that ``env`` (default ``os.environ``) asks for; see the module docstring."""
    env = dict(os.environ if env is None else env)
    try:
        cmd = command(env)
    except RaceSetupError as e:
        print(f"race: {e}", file=sys.stderr)
        return 2
    if cmd is None:
        print(HOW)
        return 0
    # scripts/race.py runs `rnnlab` from PATH: this interpreter's (the project's virtual environment) first
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    print("=== the race: rnnlab's presets against faster-rnnlm (scripts/race.py) ===", flush=True)
    return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
