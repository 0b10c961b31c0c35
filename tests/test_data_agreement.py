"""The agreement corpus: deterministic, distances and attractor counts as stated, and no cue but the
subject tells the verb's number."""
import numpy as np
import pytest

from rnnlab.data import agreement as A
from rnnlab.data import agreement_items, builtin_split, generate_sentences, iter_sentences, resolve_corpus
from rnnlab.errors import ConfigError

SING = {s for pairs in (A.ANIMATE, A.THINGS, A.BODY) for s, _ in pairs}
PLUR = {p for pairs in (A.ANIMATE, A.THINGS, A.BODY) for _, p in pairs}
VERB_SG = {s for s, _ in A.VERB_INTRANSITIVE + A.VERB_TRANSITIVE + A.COPULA + [A.HAVE]}
VERB_PL = {p for _, p in A.VERB_INTRANSITIVE + A.VERB_TRANSITIVE + A.COPULA + [A.HAVE]}


def test_word_classes_do_not_overlap():
    other = set(A.ADJECTIVES + A.PREPOSITIONS + A.ADVERBS + A.COMPLEMENTS + A.POSSESSIVES
                + A.PAST_INTRANSITIVE + A.PAST_TRANSITIVE + A.PAST_INTRANSITIVE_THING)
    groups = [SING, PLUR, VERB_SG, VERB_PL, other - {"inside", "outside"}]   # preps double as adverbs
    for i, g in enumerate(groups):
        for h in groups[i + 1:]:
            assert not g & h, g & h
    assert 250 <= len(A.lexicon()) <= 500


def analyse(words):
    """(subject index, verb index, subject plural) read off the words."""
    subj = next(i for i, w in enumerate(words) if w in SING | PLUR)
    verb = next(i for i, w in enumerate(words) if w in VERB_SG | VERB_PL)
    return subj, verb, words[subj] in PLUR


def test_sentences_are_deterministic_and_agree():
    a = generate_sentences(300, seed=5)
    assert a == generate_sentences(300, seed=5) and a != generate_sentences(300, seed=6)
    dist = []
    for s in a:
        subj, verb, plural = analyse(s)
        assert (s[verb] in VERB_PL) == plural
        assert not set(s[subj + 1:verb]) & (VERB_SG | VERB_PL)     # no inflected verb in between
        dist.append(verb - subj - 1)
    assert min(dist) == 0 and max(dist) == 12
    assert set(w for s in a for w in s) <= set(A.lexicon())


def test_distance_bounds():
    for s in generate_sentences(200, seed=1, max_distance=5, min_distance=3):
        subj, verb, _ = analyse(s)
        assert 3 <= verb - subj - 1 <= 5


@pytest.mark.parametrize("distance", [0, 1, 2, 3, 7, 8, 15])
def test_items_have_the_stated_distance_and_attractors(distance):
    items = agreement_items(100, seed=distance, distance=distance)
    assert len(items) == 100
    for it in items:
        subj, _, plural = analyse(list(it.prefix) + [it.correct])
        assert it.distance == distance == len(it.prefix) - subj - 1
        assert it.plural == plural and (it.correct in VERB_PL) == plural
        assert {it.correct, it.wrong} in [set(p) for p in A.VERB_INTRANSITIVE + A.VERB_TRANSITIVE
                                          + A.COPULA + [A.HAVE]]
        between = it.prefix[subj + 1:]
        assert it.n_attractors == sum((w in PLUR) != plural for w in between if w in SING | PLUR)


@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_items_with_exact_attractor_count(k):
    for it in agreement_items(50, seed=k, n_attractors=k, distance=12 if k < 4 else None):
        subj, _, plural = analyse(list(it.prefix) + [it.correct])
        between = [w for w in it.prefix[subj + 1:] if w in SING | PLUR]
        assert it.n_attractors == k == sum((w in PLUR) != plural for w in between)


def test_impossible_attractor_requests():
    with pytest.raises(ConfigError, match="do not fit"):
        agreement_items(1, distance=5, n_attractors=2)
    with pytest.raises(ConfigError, match="max_distance"):
        agreement_items(1, n_attractors=5, max_distance=10)
    with pytest.raises(ConfigError):
        generate_sentences(-1)


def test_only_the_subject_predicts_the_verb():
    """Cues other than the subject are at chance: the nearest noun, the word before the verb."""
    items = agreement_items(4000, seed=11, max_distance=12)
    far = [it for it in items if it.distance >= 3]
    nearest_ok, before = [], {}
    for it in far:
        nouns = [w for w in it.prefix[-it.distance:] if w in SING | PLUR]
        if nouns:
            nearest_ok.append((nouns[-1] in PLUR) == it.plural)
        before.setdefault(it.prefix[-1], []).append(it.plural)
    assert abs(np.mean(nearest_ok) - 0.5) < 0.03 and len(nearest_ok) > 2000
    # the last word before the verb, a majority vote per word type, does no better than chance
    votes = sum(max(sum(v), len(v) - sum(v)) for v in before.values() if len(v) >= 20)
    total = sum(len(v) for v in before.values() if len(v) >= 20)
    assert votes / total < 0.56
    assert abs(np.mean([it.plural for it in items]) - 0.5) < 0.03


def test_builtin_specs():
    c = resolve_corpus("builtin:agreement:valid?seed=2&max_distance=6")
    assert c.is_builtin and c.split == "valid" and c.params["n"] == 2000 and c.params["max_distance"] == 6
    assert resolve_corpus("train.txt").path == "train.txt"
    assert builtin_split("builtin:agreement?n=10&seed=3", "test") == "builtin:agreement:test?seed=3"
    train = list(iter_sentences("builtin:agreement?n=40"))
    valid = list(iter_sentences("builtin:agreement:valid?n=40"))
    assert train == list(iter_sentences("builtin:agreement:train?n=40")) and train != valid
    for bad in ["builtin:nope", "builtin:agreement:dev", "builtin:agreement?x=1",
                "builtin:agreement?n=abc", "builtin:agreement?n"]:
        with pytest.raises(ConfigError):
            resolve_corpus(bad)


def test_training_split_covers_the_whole_lexicon():
    """Evaluation items never meet <unk> when the vocabulary comes from builtin:agreement."""
    from rnnlab.data import build_vocab
    v = build_vocab("builtin:agreement", 8000)
    assert set(A.lexicon()) <= set(v.tokens)
    assert len(v) == len(A.lexicon()) + 3
