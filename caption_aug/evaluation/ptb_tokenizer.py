"""Pure-Python copy of the COCO caption toolkit's tokenisation, so BLEU needs no Java.

pycocoevalcap runs Stanford PTBTokenizer 3.4.1 (`-preserveLines -lowerCase`) and then drops the
tokens in `PUNCTUATIONS`. This module reproduces that: a longest-match lexer whose rules follow
`PTBLexer.flex` as shipped in CoreNLP 3.4.1 (checked against the jar token by token: no
difference on the 25,014 COCO val2017 captions), plus fast paths for the plain words that make up
almost every caption, so that all val2017 captions take about 0.15 s.

Quirks kept on purpose, because the toolkit has them: `-lowerCase` turns `-LRB-` into `-lrb-`, so
brackets are NOT dropped; `!!`, `?!` and a few unusual quote marks are not in the drop list either.
"""

import re

PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                          ".", "?", "!", ",", ":", "-", "--", "...", ";"])

# Character classes. Letters are Unicode letters; digits are decimal digits. Numeric symbols
# such as superscripts and vulgar fractions are letters to Python's \w but not to Java, while
# PTBLexer adds to its letters the soft hyphen and combining marks (so "cafe\u0301" is one word).
_NUMERIC_SYMBOLS = r"\u00b2\u00b3\u00b9\u00bc-\u00be\u2070-\u209f\u2150-\u218f\u2460-\u24ff"
_MORE_LETTERS = (
    r"\u00ad\u0237-\u024f\u02c2-\u02c5\u02d2-\u02df\u02e5-\u02ff\u0300-\u036f\u0370-\u037d"
    r"\u0384\u0385\u03cf\u03f6\u03fc-\u03ff\u0483-\u0487\u04cf\u04f6-\u04ff\u0510-\u0525"
    r"\u055a-\u055f\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0615-\u061a\u063b-\u063f"
    r"\u064b-\u065e\u0670\u06d6-\u06ef\u06fa-\u06ff\u070f\u0711\u0730-\u074f\u0750-\u077f"
    r"\u07a6-\u07b1\u07ca-\u07f5\u07fa\u0900-\u0903\u093c\u093e-\u094e\u0951-\u0955\u0962"
    r"\u0963\u0981-\u0983\u09bc-\u09c4\u09c7\u09c8\u09cb-\u09cd\u09d7\u09e2\u09e3\u0a01-\u0a03"
    r"\u0a3c\u0a3e-\u0a4f\u0a81-\u0a83\u0abc-\u0acf\u0b82\u0bbe-\u0bc2\u0bc6-\u0bc8\u0bca-\u0bcd"
    r"\u0c01-\u0c03\u0c3e-\u0c56\u0d3e-\u0d44\u0d46-\u0d48\u0e30-\u0e3a\u0e47-\u0e4e\u0eb1-\u0ebc"
    r"\u0ec8-\u0ecd")
LETTER = rf"[^\W\d_{_NUMERIC_SYMBOLS}]"  # [:letter:]
ALNUM = rf"[^\W_{_NUMERIC_SYMBOLS}]"  # [:letter:] or [:digit:]
L = rf"(?:{LETTER}|[{_MORE_LETTERS}])"  # the letters of a WORD
LD = rf"(?:{ALNUM}|[{_MORE_LETTERS}])"
D = r"\d"
SPACE = r"[ \t\u00a0\u2000-\u200a\u3000]"
NEWLINE = r"(?:\r\n|[\r\n\u2028\u2029\u000b\u000c\u0085])"
SPACENL = rf"(?:{SPACE}|{NEWLINE})"
APOS = r"(?:['\u0092\u2019]|&apos;)"
APOSETC = r"(?:['`\u0092\u2019\u0091\u2018\u201b]|&apos;)"

# PTBLexer.flex macros, under their names there.
WORD = rf"{L}{LD}*(?:[.!?]{L}{LD}*)*"
REDAUX = rf"{APOS}(?:[msdMSD]|(?i:re|ve|ll))"
SWORD = r"[A-Za-z\u00ad]*[A-MO-Za-mo-z]\u00ad*"
SREDAUX = rf"[nN]{APOSETC}[tT]"
APOWORD = (rf"{APOS}[nN]{APOS}?|[lLdDjJ]{APOS}|(?i:dunkin|somethin|ol){APOS}|{APOS}(?i:em)"
           rf"|[A-HJ-XZn]{APOSETC}{LETTER}{{2,}}|{APOS}[2-9]0[sS]|{APOS}(?i:till?)"
           rf"|{LETTER}+?[aeiouyAEIOUY]{APOSETC}[aeiouA-Z]{LETTER}*|{APOS}(?i:cause)"
           rf"|(?i:nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l)|[oO]{APOSETC}[oO]")
NUM = rf"(?:{D}*(?:[.:,\u00ad\u066b\u066c]{D}+)+|{D}+)"
ACRO = (r"(?:(?i:canada|sino|korean|eu|japan|non)-(?i:u\.s)|(?i:u\.s\.-(?:u\.s\.s\.r|u\.k))"
        r"|[A-Za-z](?:\.[A-Za-z])*)")
ACRO2 = r"(?:[A-Za-z](?:\.[A-Za-z])+)"

# Abbreviations, as word lists (lower case where the flex file is caseless).
ABBREV1_WORDS = [
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mon", "tue", "tues", "wed", "thu", "thurs", "fri",
    "ala", "ariz", "calif", "colo", "conn", "ct", "dak", "fla", "ga", "ind", "kan", "kans", "ky",
    "md", "mich", "minn", "mo", "mont", "neb", "nev", "okla", "penn", "tenn", "va", "vt", "wis",
    "wisc", "wyo",
    "inc", "co", "cos", "corp", "ltd", "plc",
    "rt", "bancorp", "bhd", "assn", "univ", "intl", "sys",
    "tel", "est", "ext", "sq", "jr", "sr", "bros", "ed.d", "ph.d", "blvd", "rd", "esq",
    "etc", "al", "seq", "bldg"]
# State abbreviations whose first letter must be upper case (they are also common words).
ABBREV1_CAPITALISED = ["Az", "Ark", "Del", "Ill", "La", "Mass", "Miss", "Ore", "Pa", "Tex", "Wash"]
ABBREV2_WORDS = [
    "mr", "mrs", "ms", "dr", "drs", "prof", "profs", "sen", "sens", "rep", "reps", "atty", "attys",
    "lt", "col", "gen", "messrs", "gov", "govs", "adm", "rev", "maj", "sgt", "cpl", "pvt", "capt",
    "st", "ste", "ave", "pres", "lieut", "hon", "brig", "cmdr", "comdr", "pfc", "spc", "supt",
    "supts", "det", "mt", "ft", "adj", "adv", "asst", "assoc", "ens", "insp", "mlle", "mme",
    "msgr", "sfc", "vs", "v", "alex", "wm", "jos", "cie", "a.k.a", "cf", "treas", "ph",
    "invt", "elec", "natl", "dept"]
# Abbreviations with a flex character class, which %caseless does not reach: "Pty." but not "PTY.".
ABBREV1_CLASSED = r"(?i:pp?t)[ye](?i:s)?"
ABBREV2_CLASSED = r"(?i:m)[ft](?i:g)"
CLASSED_EXAMPLES = ["pty", "ptys", "pte", "ptes", "ppty", "pptys", "ppte", "pptes", "mfg", "mtg"]
# Abbreviations only before a number ("no. 5"); elsewhere "no." is a word and a period.
ABBREV3_WORDS = ["ca", "fig", "figs", "prop", "no", "nos", "art", "bldg", "pp", "op"]
ACRONYM_NEXT_WORDS = [
    "About", "According", "Additionally", "After", "An", "A", "As", "At", "But", "Earlier", "He",
    "Her", "Here", "However", "If", "In", "It", "Last", "Many", "More", "Mr.", "Ms.", "Now",
    "Once", "One", "Other", "Our", "She", "Since", "So", "Some", "Such", "That", "The", "Their",
    "Then", "There", "These", "They", "This", "We", "When", "While", "What", "Yet", "You"]


def _caseless(words):
    """Alternation of the words, matched case-insensitively (the flex file is %caseless)."""
    return "(?i:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


def _first_upper(words):
    """Alternation of words whose first letter must be the capital given (a flex [X] class)."""
    return "|".join(w[0] + _caseless([w[1:]]) for w in sorted(words, key=len, reverse=True))


ABBREV1 = (rf"(?:{_caseless(ABBREV1_WORDS)}|{_first_upper(ABBREV1_CAPITALISED)}"
           rf"|{ABBREV1_CLASSED})\.")
# Its branches stay top-level alternatives so that each competes on length ("v.e." over "v.").
ABBREV4_BRANCHES = [_caseless(ABBREV2_WORDS), _first_upper(["Miss"]), ABBREV2_CLASSED, ACRO]
ABBREV4 = "|".join(ABBREV4_BRANCHES)
ABBREV2 = "|".join(rf"(?:{branch})\." for branch in ABBREV4_BRANCHES)
ABBREV3 = rf"{_caseless(ABBREV3_WORDS)}\."
PHONE = (r"(?:\([0-9]{2,3}\)[ \u00a0]?|(?:\+\+?)?(?:[0-9]{2,4}[\- \u00a0])?[0-9]{2,4}[\- \u00a0])"
         r"[0-9]{3,4}[\- \u00a0]?[0-9]{3,5}"
         r"|(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}")
HTHING = r"[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-(?:" + ACRO2 + r"\.|[A-Za-z0-9\u00ad]+))+"
THING_PART = rf"(?:[dDoOlL]{APOSETC}{ALNUM})?{ALNUM}+"
THING = rf"{THING_PART}(?:[-_\u058a\u2010\u2011]{THING_PART})*"
THINGA = r"[A-Z]+(?:(?:(?i:&amp;)|[+&])[A-Z]+)+"
FILENAME_EXTENSIONS = ("bat|bmp|bz2|class|cgi|cpp|c|dll|docx|doc|exe|gif|gz|html|htm|h|jar|java"
                       "|jpeg|jpg|mov|mp3|pdf|php|pl|png|ppt|ps|py|sql|tar|txt|wav|xml|x|zip")
NAME = r"[A-Za-z][A-Za-z0-9_:.\-]*"
SGML = (rf"<(?:[!?][A-Za-z\-][^>\r\n]*"
        rf"|{NAME}(?: +(?:{NAME} *= *['\"][^\r\n'\"]*['\"]|{NAME}))* *\/?|\/{NAME}) *>")
QUOTES = (APOS + r"|''|[`\u2018\u2019\u201a\u201b\u201c\u201d\u0091-\u0094\u201e\u201f\u2039\u203a"
          r"\u00ab\u00bb]{1,2}")
MISCSYMBOL = (r"[+%&~\^|\\\u00a6\u00a7\u00a8\u00a9\u00ac\u00ae\u00af\u00b0-\u00b3\u00b4-\u00ba"
              r"\u00d7\u00f7\u0387\u05be\u05c0\u05c3\u05c6\u05f3\u05f4\u0600-\u0603\u0606-\u060a"
              r"\u060c\u0614\u061b\u061e\u066a\u066d\u0703-\u070d\u07f6-\u07f8\u0964\u0965\u0e4f"
              r"\u1fbd\u2016\u2017\u2020-\u2023\u2030-\u2038\u203b\u203e-\u2042\u2044\u207a-\u207f"
              r"\u208a-\u208e\u2100-\u214f\u2190-\u21ff\u2200-\u2bff\u3012\u30fb\uff01-\uff0f"
              r"\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")

_LATEX_QUOTES = {"\u2018": "`", "\u201b": "`", "\u2039": "`", "\u0091": "`",
                 "\u2019": "'", "\u203a": "'", "\u0092": "'",
                 "\u201c": "``", "\u00ab": "``", "\u0093": "``",
                 "\u201d": "''", "\u00bb": "''", "\u0094": "''"}
_LATEX_QUOTE_CHARS = re.compile("[" + "".join(_LATEX_QUOTES) + "]")
_CURRENCY = {"\u00a2": "cents", "\u00a3": "#", "\u00a4": "$", "\u20a0": "$", "\u20ac": "$",
             "\u0080": "$"}
_FRACTIONS = {"\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2153": "1/3", "\u2154": "2/3"}


def _quotes(tok, left=False):
    """LaTeX-style quotes as PTBLexer writes them (straight quotes by their guessed side)."""
    if left:
        tok = tok.replace("&apos;", "`").replace('"', "``").replace("''", "``").replace("'", "`")
    else:
        tok = tok.replace("&apos;", "'").replace('"', "''")
    return _LATEX_QUOTE_CHARS.sub(lambda m: _LATEX_QUOTES[m.group()], tok)


def _same(tok):
    """The token as matched."""
    return tok


def _no_soft_hyphen(tok):
    """Soft hyphens (U+00AD) only mark where a word may break: PTBLexer removes them."""
    return tok.replace("\u00ad", "")


def _amp(tok):
    """The SGML entity &amp; as the character it stands for."""
    return re.sub("(?i:&amp;)", "&", tok)


def _paren(tok):
    """Round brackets inside a token (phone numbers, smileys) in PTB's escaped form."""
    return tok.replace("(", "-LRB-").replace(")", "-RRB-")


def _dashes(tok):
    """Runs of three or four hyphens are a PTB dash, "--"; other runs stay as typed."""
    return "--" if 3 <= len(tok) <= 4 else tok


_ACRONYM = "acronym"  # pushback marker: "I." before "The" is the letter, then the period

# (pattern, trailing context or None, normaliser, how many chars to push back), in flex order:
# the longest match (token plus trailing context) wins, ties go to the earlier rule.
_RULE_SPECS = [
    (r"(?i:c\+\+|[cf]#)", None, _same, 0),
    (r"(?i:cannot)|'(?i:twas)", None, _same, 3),
    (r"'(?i:tis)|(?i:gonna|gotta|lemme|gimme|wanna)", None, _same, 2),
    (SGML, None, _same, 0),
    (r"&(?i:MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]", None, lambda t: "--", 0),
    (r"(?i:&amp;)", None, _amp, 0),
    (r"&(?i:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);", None, _same, 0),
    (WORD, REDAUX, _no_soft_hyphen, 0),
    (SWORD, SREDAUX, _no_soft_hyphen, 0),
    (WORD, None, _no_soft_hyphen, 0),
    (APOWORD, None, _same, 0),
    (rf"[yY]{APOS}", LETTER, _same, 0),
    (r"(?i:https?)://[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-]", None, _same, 0),
    (r"(?:(?:(?i:www)\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})"
     r"|(?:(?:[^ \t\n\f\r\"`'<>|.!?(){},-_$]+\.)+(?i:com|net|org|edu)))"
     r"(?:/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?", None, _same, 0),
    (r"(?:(?i:&lt;)|<)?[a-zA-Z0-9][^ \t\n\f\r\"<>|(){}\u00a0]*@(?:[^ \t\n\f\r\"<>|(){}.\u00a0]+\.)*"
     r"[^ \t\n\f\r\"<>|(){}.\u00a0]+(?:(?i:&gt;)|>)?", None, _same, 0),
    (rf"@[a-zA-Z_][a-zA-Z_0-9]*|#{L}+", None, _same, 0),
    (REDAUX, r"[^A-Za-z]", _quotes, 0),
    (SREDAUX, None, _quotes, 0),
    (rf"{D}{{1,2}}[\-/]{D}{{1,2}}[\-/]{D}{{2,4}}", None, _same, 0),
    (rf"[\-+]?{NUM}", None, _no_soft_hyphen, 0),
    (r"[\u207a\u207b\u208a\u208b]?(?:[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+|[\u2080-\u2089]+)",
     None, _same, 0),
    (rf"(?:{D}{{1,4}}[- \u00a0])?{D}{{1,4}}(?:\\?/|\u2044){D}{{1,4}}", None, _same, 0),
    (r"[\u00bc\u00bd\u00be\u2153-\u215e]", None, lambda t: _FRACTIONS.get(t, t), 0),
    (rf"-(?i:RRB|LRB|RCB|LCB|RSB|LSB)-|(?i:C\.D\.s|pro-|anti-|S(?:&amp;|&)P-500|S(?:&amp;|&)Ls"
     rf"|Cap{APOS}n|c{APOS}est)", None, _amp, 0),
    (r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}",
     None, _same, 0),
    (r"[A-Z]*\$|#", None, _same, 0),
    (r"[\u00a2\u00a3\u00a4\u00a5\u0080\u20a0\u20ac\u060b\u0e3f\u20a4\uffe0\uffe1\uffe5\uffe6]",
     None, lambda t: _CURRENCY.get(t, t), 0),
    (rf"{ACRO}\.", rf"{SPACENL}+(?:{_first_upper(ACRONYM_NEXT_WORDS)}|{SGML}){SPACENL}",
     None, _ACRONYM),
    (ABBREV3, rf"{SPACENL}?{D}", _same, 0),
    (ABBREV1, r"(?s:..)?", _same, 0),
    (ABBREV2, None, _same, 0),
    (ABBREV4, SPACE, _same, 0),
    (ACRO, SPACENL, _same, 0),
    (rf"{APOS}[0-9][0-9]", SPACENL, _same, 0),
    (rf"{ALNUM}+\.(?i:{FILENAME_EXTENSIONS})", rf"{SPACENL}|[.?!,]", _same, 0),
    (rf"{WORD}\.", r"[,;:\u3001]", _no_soft_hyphen, 0),
    (PHONE, None, _paren, 0),
    (r'"|&quot;', r"[A-Za-z0-9$]", lambda t: _quotes(t, left=True), 0),
    (r'"|&quot;', None, _quotes, 0),
    (r"<|&lt;", None, lambda t: "<", 0),
    (r">|&gt;", None, lambda t: ">", 0),
    (r"[<>]?[:;=][\-o*']?[()DPdpO\\{@|\[\]]", r"[^A-Za-z0-9]", _paren, 0),
    (r"[\-^x=~<>']_[\-^x=~<>']|\([\-^x=~<>'][_.]?[\-^x=~<>']\)|\([\^x=~<>']-[\^x=~<>'`]\)",
     None, _paren, 0),
    (r"\{", None, lambda t: "-LCB-", 0),
    (r"\}", None, lambda t: "-RCB-", 0),
    (r"\[", None, lambda t: "-LSB-", 0),
    (r"\]", None, lambda t: "-RSB-", 0),
    (r"\(", None, lambda t: "-LRB-", 0),
    (r"\)", None, lambda t: "-RRB-", 0),
    (r"-+", None, _dashes, 0),
    (r"\.\.\.+|[\u0085\u2026]|\.[ \u00a0](?:\.[ \u00a0])+\.", None, lambda t: "...", 0),
    (r"@+|#+|_+", None, _same, 0),
    (r"\*+|(?:\\\*){1,3}", None, _same, 0),
    (r"[,;:\u3001]", None, _same, 0),
    (r"[?!]+", None, _same, 0),
    (r"[.\u00a1\u00bf\u037e\u0589\u061f\u06d4\u0700-\u0702\u07fa\u3002]", None, _same, 0),
    (r"=", None, _same, 0),
    (r"/", None, _same, 0),
    (rf"{HTHING}\.", r"[,;:\u3001]", _no_soft_hyphen, 0),
    (HTHING, None, _no_soft_hyphen, 0),
    (rf"{THING}\.", r"[,;:\u3001]", _same, 0),
    (THING, None, _same, 0),
    (rf"{THINGA}\.", r"[,;:\u3001]", _amp, 0),
    (THINGA, None, _amp, 0),
    ("'", r"[A-Za-z][^ \t\n\r\u00a0]", lambda t: _quotes(t, left=True), 0),
    (REDAUX, None, _quotes, 0),
    (QUOTES, None, _quotes, 0),
    (r"<<|>>", None, _same, 0),
    (MISCSYMBOL, None, _same, 0),
]


_REGEX_PIECE = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]])*\]|[()|]|[^\\\[()|]+", re.S)


def _top_level_alternatives(pattern):
    """Splits a regex at its top-level `|`, so that each branch competes on length.

    JFlex takes the longest match among a rule's branches; Python's `re` takes the first.
    """
    parts, current, depth = [], "", 0
    for piece in _REGEX_PIECE.findall(pattern):
        depth += (piece == "(") - (piece == ")")
        if piece == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += piece
    return parts + [current]


_RULES = [(re.compile(f"({branch})({context})" if context else f"({branch})()"), normalise, back)
          for pattern, context, normalise, back in _RULE_SPECS
          for branch in _top_level_alternatives(pattern)]
_SIMPLE = re.compile(r"\s*([A-Za-z]+(?:\s+[A-Za-z]+)*)\s*(\.?)\s*")  # most captions: fast path
_SKIP = re.compile(r"[\s\x00\x7f\u200b\u200e\u200f\ufeff]+")  # gaps PTBLexer skips
# Chunks end only at the spaces no PTBLexer token crosses (an e-mail address may hold U+2009).
_CHUNK = re.compile(r"[^ \t\n\r\f\u00a0]+")
_PEEK = 64  # characters of the next caption that the acronym rule may look at

_ASSIMILATIONS = {"cannot": ("can", "not"), "gonna": ("gon", "na"), "gotta": ("got", "ta"),
                  "lemme": ("lem", "me"), "gimme": ("gim", "me"), "wanna": ("wan", "na")}
# Words that, followed by a period, may lex as an abbreviation; other "word." chunks are fast.
_ABBREVIATION_LIKE = frozenset(w.lower() for w in ABBREV1_WORDS + ABBREV1_CAPITALISED
                               + ABBREV2_WORDS + ABBREV3_WORDS + CLASSED_EXAMPLES + ["miss"])


def _lex(text, pos, end, out):
    """Longest-match lexing of text[pos:] until `end` is passed; appends raw tokens to `out`."""
    while pos < end:
        skip = _SKIP.match(text, pos)
        if skip:
            pos = skip.end()
            continue
        best, best_len = None, 0
        for rule in _RULES:
            m = rule[0].match(text, pos)
            if m and m.end() - pos > best_len:
                best, best_len = (m, rule), m.end() - pos
        if best is None:  # untokenizable character: PTBLexer deletes it
            pos += 1
            continue
        m, (_, normalise, back) = best
        tok = m.group(1)
        if back == _ACRONYM:
            kept = tok[:-1] if len(tok) == 2 else tok
            out.append(kept)
            pos += len(kept)
        elif back:
            out.append(tok[:-back])
            pos += len(tok) - back
        else:
            out.append(normalise(tok))
            pos += len(tok)
    return pos


def tokenize_caption(caption: str, next_caption=None) -> list:
    """Tokens of one caption as the toolkit scores them: lower case, punctuation dropped.

    The toolkit hands Java all captions of a batch as one file, one per line, and PTBLexer peeks
    across the line break: "reads K." keeps "k." unless the next line starts with a word such as
    "A" or "The", when it becomes "k". `next_caption` is that next line (None for the last one).
    """
    simple = _SIMPLE.fullmatch(caption)
    if simple:
        words = simple.group(1).lower().split()
        if _ASSIMILATIONS.keys().isdisjoint(words) and not (
                simple.group(2) and (len(words[-1]) == 1 or words[-1] in _ABBREVIATION_LIKE)):
            return words
    text = caption if next_caption is None else caption + "\n" + next_caption[:_PEEK]
    raw = []
    pos = 0
    for m in _CHUNK.finditer(text, 0, len(caption)):
        start, end = m.span()
        if end <= pos:  # taken by a token that spans whitespace ("2 1/2", phone numbers)
            continue
        if start < pos:
            pos = _lex(text, pos, end, raw)
            continue
        chunk = m.group()
        if chunk.isalpha():
            low = chunk.lower()
            raw.extend(_ASSIMILATIONS.get(low, (low,)))
            pos = end
            continue
        last = chunk[-1]
        if (last == "," or last == ".") and chunk[:-1].isalpha() and len(chunk) > 2 \
                and chunk[:-1].lower() not in _ABBREVIATION_LIKE:
            low = chunk[:-1].lower()
            raw.extend(_ASSIMILATIONS.get(low, (low,)))
            pos = end
            continue
        pos = _lex(text, start, end, raw)
    # As the toolkit: lower case ("-LRB-" becomes "-lrb-" and so survives), drop punctuation, then
    # split the few tokens that hold a space ("2 1/2", phone numbers) as BLEU's str.split() does.
    lowered = (t.lower() for t in raw)
    return [piece for t in lowered if t not in PUNCTUATIONS for piece in t.split()]


def tokenize(captions) -> list:
    """Token lists, one per caption, as pycocoevalcap's PTBTokenizer gives them for this batch.

    Pass the captions in the order the toolkit would (see `tokenize_caption` on why order matters).
    """
    captions = list(captions)
    following = captions[1:] + [None]
    return [tokenize_caption(c, n) for c, n in zip(captions, following)]


def tokenize_groups(groups) -> list:
    """Token lists per group (e.g. the references of each image), all tokenised as one batch."""
    groups = [list(group) for group in groups]
    flat = tokenize(caption for group in groups for caption in group)
    out, start = [], 0
    for group in groups:
        out.append(flat[start:start + len(group)])
        start += len(group)
    return out
