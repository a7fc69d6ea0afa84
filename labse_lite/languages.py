"""Language groups used in the LaBSE paper's Tatoeba tables (Feng et al.,
2022, Table 2) and the zero-shot languages of the shipped data."""

# The 14 languages supported by m-USE (its 16 minus English, Chinese once).
MUSE_14 = ("ara", "cmn", "deu", "fra", "ita", "jpn", "kor", "nld", "pol",
           "por", "rus", "spa", "tha", "tur")

# The 36 Tatoeba languages of the XTREME benchmark (Hu et al., 2020).
XTREME_36 = ("afr", "ara", "bul", "ben", "deu", "ell", "spa", "est", "eus",
             "pes", "fin", "fra", "heb", "hin", "hun", "ind", "ita", "jpn",
             "jav", "kat", "kaz", "kor", "mal", "mar", "nld", "por", "rus",
             "swh", "tam", "tel", "tha", "tgl", "tur", "urd", "vie", "cmn")

# Tatoeba-v1 languages with no Tatoeba-challenge *file* of their own
# (see data/README.md); wuu, arz, max and swh still occur as row labels
# inside macro-language files, so a zero-shot run must drop those rows.
ZERO_SHOT_15 = ("amh", "ang", "arz", "ast", "csb", "dsb", "hsb", "lvs",
                "max", "mhr", "slk", "swg", "swh", "wuu", "xho")

GROUPS = {"muse14": MUSE_14, "xtreme36": XTREME_36}
