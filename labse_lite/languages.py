"""Language groups used in the LaBSE paper's Tatoeba tables (Feng et al.,
2022) and the zero-shot languages of the shipped data."""

# The 14 languages supported by m-USE (its 16 minus English, Chinese once).
MUSE_14 = (
    "ara",
    "cmn",
    "deu",
    "fra",
    "ita",
    "jpn",
    "kor",
    "nld",
    "pol",
    "por",
    "rus",
    "spa",
    "tha",
    "tur",
)

# The 36 Tatoeba languages of the XTREME benchmark (Hu et al., 2020).
XTREME_36 = (
    "afr",
    "ara",
    "bul",
    "ben",
    "deu",
    "ell",
    "spa",
    "est",
    "eus",
    "pes",
    "fin",
    "fra",
    "heb",
    "hin",
    "hun",
    "ind",
    "ita",
    "jpn",
    "jav",
    "kat",
    "kaz",
    "kor",
    "mal",
    "mar",
    "nld",
    "por",
    "rus",
    "swh",
    "tam",
    "tel",
    "tha",
    "tgl",
    "tur",
    "urd",
    "vie",
    "cmn",
)

# Tatoeba-v1 languages with no Tatoeba-challenge *file* of their own
# (see data/README.md); wuu, arz, max and swh still occur as row labels
# inside macro-language files, so a zero-shot run must drop those rows.
ZERO_SHOT_15 = (
    "amh",
    "ang",
    "arz",
    "ast",
    "csb",
    "dsb",
    "hsb",
    "lvs",
    "max",
    "mhr",
    "slk",
    "swg",
    "swh",
    "wuu",
    "xho",
)

GROUPS = {"muse14": MUSE_14, "xtreme36": XTREME_36}

# Zero-shot languages that still occur as row labels in the training data
# (inside macro-language files): drop these rows for a zero-shot run.
ZERO_SHOT_LABELLED = ("arz", "max", "swh", "wuu")

# The closest language *with* training pairs for each zero-shot language
# (Fig. 6's "related language"), with the reason.  English itself never
# counts: it is the target side of every pair.
CLOSEST_TRAINED_RELATIVE = {
    "amh": ("ara", "Semitic; no Ethiopic-script language is trained"),
    "ang": (
        "fry",
        "Old English; Frisian is the closest living "
        "non-English Anglo-Frisian language",
    ),
    "arz": ("ara", "Egyptian Arabic / Arabic"),
    "ast": ("spa", "Asturian / Spanish (West Iberian Romance)"),
    "csb": ("pol", "Kashubian / Polish (Lechitic)"),
    "dsb": (
        "pol",
        "Lower Sorbian; Polish is its closest trained "
        "neighbour (Upper Sorbian is zero-shot too)",
    ),
    "hsb": ("ces", "Upper Sorbian; Czech is its closest trained neighbour"),
    "lvs": (
        "lav",
        "Standard Latvian / Latvian (macro-language); "
        "Tatoeba-v1 does not test lav",
    ),
    "max": ("ind", "North Moluccan Malay / Indonesian"),
    "mhr": (
        "fin",
        "Meadow Mari (Uralic); Finnish is a distant relative "
        "in another script",
    ),
    "slk": ("ces", "Slovak / Czech"),
    "swg": ("deu", "Swabian / German"),
    "swh": ("run", "Swahili / Kirundi (Bantu); Tatoeba-v1 does not test run"),
    "wuu": ("cmn", "Wu Chinese / Mandarin"),
    "xho": ("run", "Xhosa / Kirundi (Bantu; Zulu is not in the data)"),
}
