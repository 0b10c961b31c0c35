"""The embedded corpus: English-like sentences whose main verb agrees in number with a distant subject.

    the man who wore a wig on his head goes inside
    the men who wore a wig on his head go inside
    the girls near the old bridge that the farmer painted often have a red coat

    sentences = generate_sentences(20000, seed=0, max_distance=12)          # training text
    items = agreement_items(500, seed=1, distance=7)                         # evaluation items
    items[0].prefix, items[0].correct, items[0].wrong                        # ("the", "man", ...), "goes", "go"

A sentence is  subject-NP  modifiers  [adverb]  VERB  rest:
- the subject is a noun (singular or plural with probability 1/2) with a determiner and adjectives;
- the modifiers fill exactly `distance` words (the words strictly between the subject noun and the
  verb) with prepositional phrases ("near the old bridges") and relative clauses, subject-gap ("who
  wore a wig on his head", "that slept") or object-gap ("that the farmers painted"), optionally ended
  by one adverb ("often");
- the verb is present tense (goes/go, likes/like, is/are, has/have) or was/were, and must agree with
  the subject.

Why only the subject tells the verb's number (so the corpus needs memory of `distance` words):
- every noun between subject and verb (an attractor) takes either number with probability 1/2,
  independently of the subject: the nearest noun predicts the verb at chance;
- verbs inside relative clauses are past tense, which English does not inflect for number ("wore",
  "saw", "slept"); was/were never occur inside them;
- relative pronouns, prepositions, possessives ("his", "their") and adverbs are drawn independently of
  the subject's number, and the word just before the verb is never the subject.
Attractor determiners do mark the attractor's number ("a wig", "these wigs"), which only makes the
attractors more distracting.

The lexicon has about 280 words. Generation is seeded (`random.Random`), so a seed gives the same
sentences on every platform; GRAMMAR_VERSION changes whenever the output for a seed would change.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import ConfigError

GRAMMAR_VERSION = 1

# (singular, plural) nouns. No noun has one form for both numbers (no "sheep").
ANIMATE = [
    ("man", "men"), ("woman", "women"), ("child", "children"), ("person", "people"), ("boy", "boys"),
    ("girl", "girls"), ("teacher", "teachers"), ("doctor", "doctors"), ("farmer", "farmers"),
    ("student", "students"), ("king", "kings"), ("queen", "queens"), ("soldier", "soldiers"),
    ("baker", "bakers"), ("driver", "drivers"), ("singer", "singers"), ("friend", "friends"),
    ("dog", "dogs"), ("cat", "cats"), ("horse", "horses"), ("bird", "birds"), ("mouse", "mice"),
    ("wolf", "wolves"), ("fox", "foxes"),
]
THINGS = [
    ("house", "houses"), ("table", "tables"), ("chair", "chairs"), ("wig", "wigs"), ("hat", "hats"),
    ("car", "cars"), ("tree", "trees"), ("river", "rivers"), ("road", "roads"), ("garden", "gardens"),
    ("window", "windows"), ("door", "doors"), ("box", "boxes"), ("book", "books"), ("letter", "letters"),
    ("bridge", "bridges"), ("city", "cities"), ("village", "villages"), ("hill", "hills"),
    ("coat", "coats"), ("bag", "bags"), ("ship", "ships"), ("church", "churches"), ("shelf", "shelves"),
]
BODY = [("head", "heads"), ("hand", "hands"), ("arm", "arms"), ("shoulder", "shoulders"),
        ("foot", "feet"), ("tooth", "teeth")]

# (singular, plural) main verbs: the forms that must agree.
VERB_INTRANSITIVE = [
    ("goes", "go"), ("sleeps", "sleep"), ("laughs", "laugh"), ("smiles", "smile"), ("waits", "wait"),
    ("runs", "run"), ("works", "work"), ("sings", "sing"), ("dances", "dance"), ("cries", "cry"),
    ("stays", "stay"), ("swims", "swim"), ("walks", "walk"), ("comes", "come"),
]
VERB_TRANSITIVE = [
    ("likes", "like"), ("sees", "see"), ("wants", "want"), ("needs", "need"), ("finds", "find"),
    ("knows", "know"), ("carries", "carry"), ("watches", "watch"), ("helps", "help"),
    ("visits", "visit"), ("follows", "follow"), ("loves", "love"), ("holds", "hold"), ("paints", "paint"),
]
COPULA = [("is", "are"), ("was", "were")]
HAVE = ("has", "have")

# Past tense: the same form for both numbers, so relative clauses leak nothing about the subject.
PAST_INTRANSITIVE = ["slept", "laughed", "smiled", "waited", "lived", "worked", "arrived", "cried",
                     "danced", "sang", "left", "stayed", "walked", "ran"]
PAST_TRANSITIVE = ["saw", "liked", "wore", "found", "painted", "built", "carried", "visited",
                   "followed", "watched", "helped", "called", "met", "chased", "loved", "sold",
                   "bought", "lost", "kept", "held"]
PAST_INTRANSITIVE_THING = ["fell", "broke", "moved", "stood", "burned", "vanished"]
ADJECTIVES = ["old", "young", "big", "small", "tall", "red", "green", "happy", "sad", "tired",
              "quiet", "angry", "clever", "kind", "brave", "strange", "lazy", "busy", "poor", "rich",
              "famous", "little", "dark", "new"]
PREPOSITIONS = ["near", "behind", "beside", "under", "above", "with", "without", "on", "in", "from",
                "at", "across"]
ADVERBS = ["often", "never", "always", "usually", "sometimes", "rarely", "really", "still"]
COMPLEMENTS = ["inside", "outside", "home", "away", "again", "today", "there", "quickly", "slowly",
               "early"]
POSSESSIVES = ["his", "her", "their", "my"]
_DETS = {  # kind -> (singular, plural); "a" becomes "an" before a vowel
    "def": ("the", "the"), "dem": ("this", "these"),
    "indef": ("a", "some"), "num": ("one", "two"), "quant": ("every", "many"),
}
_DET_KINDS = ["def", "def", "def", "dem", "indef", "num", "quant"]   # no "that": it is the relativizer
_VOWELS = set("aeiou")


@dataclass(frozen=True)
class AgreementItem:
    """One agreement test: does the model prefer `correct` to `wrong` after `prefix`?

    prefix: the sentence's tokens before the verb (no <s>); distance: words strictly between the
    subject noun and the verb; n_attractors: nouns in between whose number differs from the subject's.
    """
    prefix: tuple
    correct: str
    wrong: str
    distance: int
    n_attractors: int
    plural: bool


class _Noun:
    """A noun phrase whose number is chosen after its place in the sentence is known."""
    __slots__ = ("pair", "det", "adjs")

    def __init__(self, pair, det, adjs):
        self.pair, self.det, self.adjs = pair, det, adjs

    def render(self, plural: bool) -> list[str]:
        words = list(self.adjs) + [self.pair[plural]]
        if self.det in _DETS:
            det = _DETS[self.det][plural]
            if det == "a" and words[0][0] in _VOWELS:
                det = "an"
            words.insert(0, det)
        elif self.det is not None:
            words.insert(0, self.det)                  # a possessive
        return words


class _Builder:
    """Random phrases of an exact length in words; nouns are left as _Noun placeholders."""

    def __init__(self, rng: random.Random):
        self.r = rng

    def np(self, n: int, pool=None) -> _Noun:
        """A noun phrase of n (2..4) words: determiner, n - 2 adjectives, noun."""
        r = self.r
        if pool is None:
            pool = r.choice((ANIMATE, THINGS, THINGS, BODY))
        det = r.choice(POSSESSIVES) if pool is BODY or r.random() < 0.1 else r.choice(_DET_KINDS)
        adjs = r.sample(ADJECTIVES, n - 2)
        return _Noun(r.choice(pool), det, adjs)

    def pp(self, n: int) -> list:                      # 3..5 words
        return [self.r.choice(PREPOSITIONS), self.np(n - 1)]

    def rel(self, animate: bool) -> str:
        return "who" if animate and self.r.random() < 0.7 else "that"

    def clause(self, kind: str, n: int, animate: bool) -> list:
        r = self.r
        if kind == "pp":
            return self.pp(n)
        if kind == "rc_intr":                            # who slept [near the river]
            out = [self.rel(animate), r.choice(PAST_INTRANSITIVE if animate else PAST_INTRANSITIVE_THING)]
            return out + (self.pp(n - 2) if n > 2 else [])
        core_opts = [a for a in (2, 3, 4) if n - 2 - a == 0 or 3 <= n - 2 - a <= 5]
        a = r.choice(core_opts)
        if kind == "rc_tr":                              # who wore a wig [on his head]
            out = [self.rel(animate), r.choice(PAST_TRANSITIVE), self.np(a)]
        else:                                            # that the farmers painted [in the field]
            out = ["that", self.np(a, ANIMATE), r.choice(PAST_TRANSITIVE)]
        rest = n - 2 - a
        return out + (self.pp(rest) if rest else [])


# Lengths in words each modifier can take exactly.
_LENGTHS = {"pp": (3, 4, 5), "rc_intr": (2, 5, 6, 7), "rc_tr": tuple(range(4, 12)),
            "rc_obj": tuple(range(4, 12))}


def _modifiers(b: _Builder, distance: int, animate: bool, dense: bool = False) -> list:
    """Words and _Noun placeholders filling exactly `distance` words after the subject noun.

    dense=True uses prepositional phrases only, as short as possible: floor(distance / 3) nouns
    (for items that ask for many attractors in few words).
    """
    r = b.r
    if dense and distance >= 3:
        q, rem = divmod(distance, 3)
        lengths = [5] if q < rem else [3] * (q - rem) + [4] * rem
        r.shuffle(lengths)
        return [w for n in lengths for w in b.pp(n)]
    adverb = distance == 1 or (distance >= 3 and r.random() < 0.2)
    left = distance - adverb
    out: list = []
    while left > 0:
        options = {k: [n for n in ns if n <= left and (left - n == 0 or left - n >= 2)]
                   for k, ns in _LENGTHS.items() if animate or k != "rc_tr"}   # things do not act
        kind = r.choice([k for k, ns in options.items() if ns])
        n = r.choice(options[kind])
        out += b.clause(kind, n, animate)
        left -= n
        last = out[-1]
        animate = isinstance(last, _Noun) and last.pair in ANIMATE
    if adverb:
        out.append(r.choice(ADVERBS))
    return out


def _flatten(parts: list, numbers: dict) -> list[str]:
    words: list[str] = []
    for p in parts:
        words += p.render(numbers[id(p)]) if isinstance(p, _Noun) else [p]
    return words


def _sentence(rng: random.Random, distance: int, attractors: int | None, dense: bool = False):
    """(words, verb index, verb pair, subject plural, n_attractors) of one random sentence.

    attractors=None draws each intervening noun's number independently; an int k makes exactly k of
    them differ from the subject (None is returned if fewer than k nouns fit).
    """
    b = _Builder(rng)
    animate = rng.random() < 0.8
    subject = b.np(rng.choice((2, 2, 2, 3, 3, 4)), ANIMATE if animate else THINGS)
    plural = rng.random() < 0.5
    mods = _modifiers(b, distance, animate, dense)
    nouns = [p for p in mods if isinstance(p, _Noun)]
    if attractors is None:
        numbers = {id(p): rng.random() < 0.5 for p in nouns}
    else:
        if len(nouns) < attractors:
            return None
        flip = set(rng.sample(range(len(nouns)), attractors))
        numbers = {id(p): plural != (i in flip) for i, p in enumerate(nouns)}
    numbers[id(subject)] = plural
    n_attr = sum(numbers[id(p)] != plural for p in nouns)

    u = rng.random()
    if not animate or u < 0.3:
        pair = rng.choice(COPULA) if rng.random() < 0.7 else HAVE
    elif u < 0.65:
        pair = rng.choice(VERB_INTRANSITIVE)
    else:
        pair = rng.choice(VERB_TRANSITIVE)
    rest: list = []
    if pair in COPULA:
        rest = (["very"] if rng.random() < 0.2 else []) + [rng.choice(ADJECTIVES)]
    elif pair is HAVE or pair in VERB_TRANSITIVE:
        rest = [b.np(rng.choice((2, 3)))]
    elif rng.random() < 0.5:
        rest = [rng.choice(COMPLEMENTS)] if rng.random() < 0.7 else b.pp(rng.choice((3, 4)))
    for p in rest:
        if isinstance(p, _Noun):
            numbers[id(p)] = rng.random() < 0.5
    head = _flatten([subject] + mods, numbers)
    words = head + [pair[plural]] + _flatten(rest, numbers)
    return words, len(head), pair, plural, n_attr


def _check_int(name: str, v, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ConfigError(f"{name} must be an integer {rng}, not {v!r}")
    return v


def generate_sentences(n: int, seed=0, max_distance: int = 12, min_distance: int = 0) -> list[list[str]]:
    """`n` training sentences; each subject-verb distance is uniform in min_distance..max_distance.

    Args:
        seed: any int or str (random.Random seed); the same seed gives the same sentences.
    """
    _check_int("n", n, 0)
    _check_int("max_distance", max_distance, 0, 200)
    _check_int("min_distance", min_distance, 0, max_distance)
    rng = random.Random(seed)
    return [_sentence(rng, rng.randint(min_distance, max_distance), None)[0] for _ in range(n)]


def agreement_items(n: int, seed=0, distance: int | None = None, n_attractors: int | None = None,
                    max_distance: int = 12) -> list[AgreementItem]:
    """`n` evaluation items (see AgreementItem), half singular and half plural subjects on average.

    Args:
        distance: words between subject and verb (exact); None: uniform up to `max_distance`.
        n_attractors: exact number of intervening nouns of the other number; None: each intervening
            noun independently singular or plural.
    """
    _check_int("n", n, 0)
    _check_int("max_distance", max_distance, 0, 200)
    if distance is not None:
        _check_int("distance", distance, 0, 200)
    if n_attractors is not None:
        _check_int("n_attractors", n_attractors, 0, 60)
        if distance is not None and n_attractors > (distance // 3 if distance != 1 else 0):
            raise ConfigError(f"{n_attractors} attractors do not fit in {distance} words "
                              f"(each needs at least 3: 'near the dog')")
    rng = random.Random(seed)
    lo = 3 * (n_attractors or 0)
    if distance is None and lo > max_distance:
        raise ConfigError(f"{n_attractors} attractors need max_distance >= {lo}")
    items = []
    misses = 0
    while len(items) < n:
        d = distance if distance is not None else rng.randint(lo, max_distance)
        s = _sentence(rng, d, n_attractors, dense=misses >= 20)
        if s is None:                 # too few nouns drawn: retry, then fall back to dense phrases
            misses += 1
            continue
        misses = 0
        words, v, pair, plural, n_attr = s
        items.append(AgreementItem(tuple(words[:v]), pair[plural], pair[not plural], d, n_attr, plural))
    return items


def lexicon() -> list[str]:
    """Every word the grammar can produce (for tests and vocabulary checks)."""
    words = set(ADJECTIVES + PREPOSITIONS + ADVERBS + COMPLEMENTS + POSSESSIVES + PAST_INTRANSITIVE
                + PAST_TRANSITIVE + PAST_INTRANSITIVE_THING + ["who", "that", "very", "an"])
    for pairs in (ANIMATE, THINGS, BODY, VERB_INTRANSITIVE, VERB_TRANSITIVE, COPULA, [HAVE],
                  list(_DETS.values())):
        for a, b in pairs:
            words.update((a, b))
    return sorted(words)
