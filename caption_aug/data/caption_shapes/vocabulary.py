"""The closed world of caption_shapes: attribute values and the words that name them.

The grammar writes captions from these tables and the parser reads captions with them, so a
word added here is at once something captions can say and something the parser understands.
Each table maps a canonical value to its surface phrases; the first phrase is the plain one.
"""

SHAPE_WORDS = {
    "circle": ("circle", "disc", "round shape"),
    "square": ("square", "box"),
    "triangle": ("triangle", "triangular shape"),
    "star": ("star", "five-pointed star"),
    "diamond": ("diamond", "rhombus"),
    "cross": ("cross", "plus sign"),
    "hexagon": ("hexagon", "six-sided shape"),
}

COLOUR_WORDS = {
    "red": ("red",),
    "orange": ("orange",),
    "yellow": ("yellow",),
    "green": ("green",),
    "cyan": ("cyan", "turquoise"),
    "blue": ("blue",),
    "purple": ("purple", "violet"),
    "pink": ("pink",),
}

SIZE_WORDS = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big"),
}

# "a left of b" reads "a is to the left of b"; y grows downwards, so "above" means smaller y.
RELATION_WORDS = {
    "left of": ("to the left of", "left of", "on the left of"),
    "right of": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over"),
    "below": ("below", "under", "beneath"),
}

# Phrases that still read well at the start of a sentence ("under a red box there is ...").
FRONTED_RELATION_WORDS = {
    "left of": ("to the left of", "on the left of"),
    "right of": ("to the right of", "on the right of"),
    "above": ("above",),
    "below": ("below", "under", "beneath"),
}

TONE_WORDS = {
    "light": ("light", "pale", "bright"),
    "dark": ("dark",),
}

STYLE_WORDS = {
    "solid": ("plain", "solid"),
    "gradient": ("gradient", "shaded"),
    "noise": ("textured", "mottled", "speckled"),
}

NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
COUNT_NOUNS = ("shape", "shapes", "object", "objects")

SHAPES = tuple(SHAPE_WORDS)
COLOURS = tuple(COLOUR_WORDS)
SIZES = tuple(SIZE_WORDS)
RELATIONS = tuple(RELATION_WORDS)
TONES = tuple(TONE_WORDS)
STYLES = tuple(STYLE_WORDS)

# Object colours (RGB). Saturated, so that no near-grey background can be mistaken for one.
PALETTE = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 30),
    "green": (40, 170, 60),
    "cyan": (30, 200, 210),
    "blue": (40, 80, 220),
    "purple": (140, 60, 200),
    "pink": (245, 120, 190),
}
