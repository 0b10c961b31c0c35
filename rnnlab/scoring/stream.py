"""The loop of ``rnnlab score``: read lines, score them in blocks, write one line per input line in input
order, and when a line is bad, write everything before it first.

Plain input is one sentence per line. N-best input (rnnlm's format) is ``ID w_1 .. w_n`` per line;
consecutive lines with the same ID are alternative hypotheses of one utterance. Each hypothesis is read
from a fresh state unless ``carry_context``: then the best-scoring hypothesis of an utterance is the
context of the next one (the state after reading it flows on, as rnnlm does without -independent).
With dynamic evaluation the model is adapted on each sentence after it is scored; for n-best input,
on the best hypothesis of each utterance once all of them are scored.
"""
from __future__ import annotations

from ..errors import DataError
from .lines import line_words

BLOCK = 4096  # lines held at most before scoring (independent sentences)


def parse_nbest(lineno: int, text: str, source: str, data_config):
    """(ID, words) of an n-best line; DataError naming the line when it has no ID or no words."""
    parts = text.split(None, 1)
    if not parts:
        raise DataError(f"{source}:{lineno}: an empty line; an n-best line is 'ID word1 word2 ...'")
    if len(parts) < 2 or not (words := line_words(parts[1], data_config)):
        raise DataError(f"{source}:{lineno}: hypothesis {parts[0]!r} has no words; an n-best line is "
                        "'ID word1 word2 ...'")
    return parts[0], words


def score_stream(source, scorer, data_config, write, nbest=False, carry_context=False):
    """Score every line of ``source`` (a ``LineSource``) with ``scorer`` (a ``Scorer``) and call
    ``write(lineno, id, scored)`` for each in input order (``id`` None for plain input). Returns the number
    of lines. Raises the DataError of a bad line after writing every line before it."""
    sequential = nbest and (carry_context or scorer.dynamic is not None)
    held = []                           # (lineno, id, words) read, not yet scored
    state = {"h0": None, "n": 0}

    def flush(upto=None):
        """Score and write the held lines (all, or the first ``upto``)."""
        todo, held[:] = held[:upto], held[len(held) if upto is None else upto:]
        if not todo:
            return
        if not sequential:
            results = scorer.score([w for _, _, w in todo])
            for (lineno, key, _), r in zip(todo, results):
                write(lineno, key, r)
        else:
            start = 0
            for end in range(1, len(todo) + 1):
                if end == len(todo) or todo[end][1] != todo[start][1]:
                    _utterance(todo[start:end])
                    start = end
        state["n"] += len(todo)

    def _utterance(group):
        h0 = state["h0"]
        results = scorer.score([w for _, _, w in group], h0=h0, adapt=False)
        for (lineno, key, _), r in zip(group, results):
            write(lineno, key, r)
        scored = [(r.total, i) for i, r in enumerate(results) if not r.skipped]
        if scored:
            best = group[min(scored, key=lambda t: (-t[0], t[1]))[1]][2]   # the first of the best
            if carry_context:           # the state the scoring pass reached, before any dynamic update
                state["h0"] = scorer.state_after(best, h0)
            scorer.adapt(best, h0)

    try:
        for lineno, text in source:
            if nbest:
                key, words = parse_nbest(lineno, text, source.name, data_config)
            else:
                key, words = None, line_words(text, data_config)
            if sequential and held and held[-1][1] != key:
                flush()                 # the previous utterance is complete
            held.append((lineno, key, words))
            if not sequential and (len(held) >= BLOCK or not source.ready()):
                flush()
    except DataError:
        # a complete utterance stays complete; an utterance cut short by the bad line is scored as it is
        flush()
        raise
    flush()
    return state["n"]
