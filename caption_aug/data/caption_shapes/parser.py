"""Reading a caption back into the Claims it makes, with the vocabulary the grammar writes from.

Robust to case, punctuation and hyphens, and to words it does not know (skipped). Phrases are
matched longest first; modifiers attach to the next shape; "the <description>" refers back to
an object already described the same way. A relation links the mention before it (same clause)
to the one after it; "... a disc above it" links to the mention before; a clause opening with
a relation ("under a box there is a star") links the mention after its object.
"""

import re

from caption_aug.data.caption_shapes import vocabulary as vocab
from caption_aug.data.caption_shapes.claims import Claims, ObjectClaim, RelationClaim

_SEPARATORS = (",", ":", ";", ".", "and")
_BACKGROUND_REACH = 2   # a tone or style word must be followed by "background" within this


def _lexicon() -> dict:
    """Phrase (tuple of tokens) -> (kind, value)."""
    tables = (("shape", vocab.SHAPE_WORDS), ("colour", vocab.COLOUR_WORDS),
              ("size", vocab.SIZE_WORDS), ("relation", vocab.RELATION_WORDS),
              ("tone", vocab.TONE_WORDS), ("style", vocab.STYLE_WORDS))
    lexicon = {tuple(_tokens(p)): (kind, value)
               for kind, table in tables for value, phrases in table.items() for p in phrases}
    lexicon.update({(w,): ("number", n) for n, w in vocab.NUMBER_WORDS.items()})
    lexicon.update({(w,): ("count_noun", None) for w in vocab.COUNT_NOUNS})
    lexicon.update({(w,): ("separator", None) for w in _SEPARATORS})
    lexicon.update({("single",): ("single", None), ("the",): ("the", None),
                    ("it",): ("it", None), ("background",): ("background", None)})
    return lexicon


def _tokens(text: str) -> list:
    return [token for token, _ in _token_spans(text)]


def _token_spans(text: str) -> list:
    """(token, (first char, end char)) pairs; hyphens split words but keep character offsets."""
    return [(m.group(), m.span())
            for m in re.finditer(r"[a-z]+|[,:;.]", text.lower().replace("-", " "))]


_LEXICON = _lexicon()
_LONGEST = max(len(phrase) for phrase in _LEXICON)


def _tagged(tokens: list) -> list:
    """(tag, (first token, end token)) of each phrase, by greedy longest match; unknown tokens
    are dropped."""
    tagged, i = [], 0
    while i < len(tokens):
        for length in range(min(_LONGEST, len(tokens) - i), 0, -1):
            tag = _LEXICON.get(tuple(tokens[i:i + length]))
            if tag:
                tagged.append((tag, (i, i + length)))
                i += length
                break
        else:
            i += 1
    return tagged


def parse_caption(text: str) -> Claims:
    """The Claims a caption makes; an empty Claims when it names no shape."""
    return parse_mentions(text)[0]


def parse_mentions(text: str) -> tuple:
    """(Claims, mentions, relation spans), for grounding words in the image: each mention is
    (index into Claims.objects, (first char, end char)), the characters of its size, colour and
    shape words; each relation span is (its RelationClaim, (first char, end char)), the
    characters of its relation phrase ("left of"); not an index into Claims.relations, which are
    deduplicated and sorted."""
    spans = _token_spans(text)
    tagged = _tagged([token for token, _ in spans])
    items = [tag for tag, _ in tagged]
    objects, mentions = [], []          # mentions: (item position, index into objects)
    words, first_word = [], None        # character spans of the mentions' words
    count = tone = style = None
    modifiers, definite = {}, False
    for pos, (kind, value) in enumerate(items):
        first, end = tagged[pos][1]
        if kind in ("colour", "size"):
            modifiers[kind] = value
            first_word = spans[first][1][0] if first_word is None else first_word
        elif kind == "the":
            definite = True
        elif kind == "shape":
            claim = ObjectClaim(value, modifiers.get("colour"), modifiers.get("size"))
            mentions.append((pos, _refer(objects, claim, definite)))
            start = spans[first][1][0] if first_word is None else first_word
            words.append((mentions[-1][1], (start, spans[end - 1][1][1])))
            modifiers, definite, first_word = {}, False, None
        elif kind in ("tone", "style"):
            if any(k == "background" for k, _ in items[pos + 1:pos + 1 + _BACKGROUND_REACH]):
                tone, style = (value, style) if kind == "tone" else (tone, value)
        elif kind == "number" and pos + 1 < len(items) and items[pos + 1][0] == "count_noun":
            count = value if count is None else count
        elif kind == "single":
            count = 1 if count is None else count
        if kind in ("separator", "relation", "it"):
            modifiers, definite, first_word = {}, False, None
    relations, relation_spans = [], []
    for pos, (kind, value) in enumerate(items):
        relation = _relation(items, mentions, pos, value) if kind == "relation" else None
        if relation:
            first, end = tagged[pos][1]
            relation_spans.append((relation, (spans[first][1][0], spans[end - 1][1][1])))
            relations.append(relation)
    return Claims(tuple(objects), tuple(relations), count, tone, style), words, relation_spans


def _refer(objects: list, claim: ObjectClaim, definite: bool) -> int:
    """Index of the object a mention denotes; a new one unless "the" points back."""
    if definite:
        for k, known in enumerate(objects):
            if (known.shape, known.colour) == (claim.shape, claim.colour) and (
                    claim.size in (None, known.size) or known.size is None):
                objects[k] = ObjectClaim(known.shape, known.colour, known.size or claim.size)
                return k
    objects.append(claim)
    return len(objects) - 1


def _relation(items: list, mentions: list, pos: int, relation: str):
    """The RelationClaim made by the relation phrase at item `pos`, or None if incomplete."""
    before = [(p, k) for p, k in mentions if p < pos]
    after = [k for p, k in mentions if p > pos]
    clause_start = max([p for p, (kind, _) in enumerate(items[:pos]) if kind == "separator"],
                       default=-1)
    if pos + 1 < len(items) and items[pos + 1][0] == "it":
        subject, obj = (before[-1][1], before[-2][1]) if len(before) >= 2 else (None, None)
    elif before and before[-1][0] > clause_start:
        subject, obj = before[-1][1], after[0] if after else None
    else:
        subject, obj = (after[1], after[0]) if len(after) >= 2 else (None, None)
    if subject is None or obj is None or subject == obj:
        return None
    return RelationClaim(subject, relation, obj)
