"""Command line: ``labse-lite train|distill|pretrain|eval|mine|vocab``,
``reference`` and ``course`` (also ``python -m labse_lite``).

``train`` exposes every :class:`labse_lite.train.TrainConfig` field as a
flag (``--margin 0.2 --languages deu fra``), ``pretrain`` every
:class:`labse_lite.pretrain.PretrainConfig` field; ``eval`` prints JSON with
per-language and averaged Tatoeba and large-pool accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path


def _field_comments(cls) -> dict[str, str]:
    """The one-line comment after each dataclass field, used as --help;
    fields a base class declares (``config.RunConfig``) have its comment
    unless the subclass redeclares them."""
    import inspect
    import re

    comments = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        for line in inspect.getsource(klass).splitlines():
            match = re.match(r"\s+(\w+): [^#]*#\s*(.*)", line)
            if match:
                comments[match.group(1)] = match.group(2)
    return comments


def _add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if typing.get_origin(hint) in (
            typing.Union,
            getattr(__import__("types"), "UnionType", typing.Union),
        ):
            hint = next(
                a for a in typing.get_args(hint) if a is not type(None)
            )
        flag = "--" + f.name.replace("_", "-")
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else f.default_factory()
        )
        # argparse %-formats help ("%(default)s"): a literal % is %%
        text = f"{comments.get(f.name, '')} (default: {default})"
        text = text.replace("%", "%%")
        if typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint) or (str,)
            parser.add_argument(
                flag,
                dest=f.name,
                nargs="*",
                type=item,
                default=argparse.SUPPRESS,
                metavar="CODE" if item is str else "N",
                help=text,
            )
        elif hint is bool:
            parser.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        else:
            parser.add_argument(
                flag,
                dest=f.name,
                type=_none_or(hint),
                default=argparse.SUPPRESS,
                help=text,
            )


def _none_or(kind):
    def parse(text: str):
        if text.lower() == "none":
            return None
        return kind(text)

    parse.__name__ = kind.__name__
    return parse


def _config_from_args(cls, args, command: str):
    """A validated ``cls`` from ``--config FILE`` overridden by the flags;
    None (after printing why) when it is invalid."""
    values = {}
    if args.config:
        with open(args.config) as handle:
            values.update(json.load(handle))
    names = {f.name for f in dataclasses.fields(cls)}
    values.update({k: v for k, v in vars(args).items() if k in names})
    try:
        config = cls(**values)
        config.validate()
    except (TypeError, ValueError) as err:
        print(f"labse-lite {command}: {err}", file=sys.stderr)
        return None
    return config


def _corpus_files(args):
    """``--pairs-file`` / ``--benchmark-file`` as corpora (None: the
    shipped data)."""
    from .data import load_corpus_file

    paths = (
        getattr(args, "pairs_file", None),
        getattr(args, "benchmark_file", None),
    )
    return tuple(load_corpus_file(p) if p else None for p in paths)


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    config = _config_from_args(TrainConfig, args, "train")
    if config is None:
        return 2
    if config.teacher in ("reference", "english"):
        from .book.reference import resolve_teacher

        config = dataclasses.replace(
            config, teacher=resolve_teacher(config.teacher, config.progress)
        )
    corpus, benchmark = _corpus_files(args)
    summary = train(config, corpus, benchmark=benchmark)
    if "eval" in summary:
        ev = summary["eval"]
        report = {
            "output_dir": config.output_dir,
            "steps": summary["steps"],
            "train_minutes": round(summary["train_seconds"] / 60, 2),
            "pairs_per_second": round(summary["pairs_per_second"], 1),
            "tatoeba_xx2en": ev["tatoeba_avg_xx2en"],
            "tatoeba_en2xx": ev["tatoeba_avg_en2xx"],
            "large_pool_xx2en": ev["large_pool_avg"],
            "large_pool_size": ev["large_pool"]["pool_size"],
        }
        print(json.dumps(report, indent=1))
    return 0


def _cmd_distill(args) -> int:
    """``train`` with a teacher: LEALLA's α·AMS + β·feature + γ·logit,
    and/or multilingual KD (δ, ``--kd-weight``)."""
    if not getattr(args, "teacher", None):
        print(
            "labse-lite distill: --teacher is required (a model folder "
            "saved by labse-lite or sentence-transformers, 'reference' "
            "for the cached reference model, or 'english' for "
            "all-MiniLM-L6-v2)",
            file=sys.stderr,
        )
        return 2
    return _cmd_train(args)


def _cmd_pretrain(args) -> int:
    from .pretrain import PretrainConfig, pretrain

    config = _config_from_args(PretrainConfig, args, "pretrain")
    if config is None:
        return 2
    corpus, _ = _corpus_files(args)
    summary = pretrain(config, corpus)
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        print(
            json.dumps(
                {
                    "model": f"{config.output_dir}/model",
                    "plan (depth, steps)": summary["plan"],
                    "minutes": round(summary["seconds"] / 60, 2),
                    "heldout_mlm_loss": [
                        round(s["heldout_loss"], 3)
                        if s["heldout_loss"] is not None
                        else None
                        for s in summary["stages"]
                    ],
                },
                indent=1,
            )
        )
    return 0


def _cmd_eval(args) -> int:
    from .data import load_tatoeba
    from .evaluate import evaluate_all
    from .model import DualEncoder

    # The model first: a wrong --model fails in one line, before the data
    # is read (FileNotFoundError -> main's "error: ...", exit code 2).
    model = DualEncoder.from_pretrained(args.model)
    corpus = load_tatoeba(args.languages, source=args.source)
    results = evaluate_all(
        model,
        corpus,
        batch_size=args.batch_size,
        show_progress_bar=not args.quiet,
        encode_length=args.encode_length,
    )
    text = json.dumps(results, indent=1)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    print(text)
    return 0


def _cmd_vocab(args) -> int:
    from .data import load_tatoeba, load_train_pairs
    from .tokenization import train_wordpiece, unk_rate_by_language

    texts = load_train_pairs().monolingual_texts()
    tok = train_wordpiece(
        texts, vocab_size=args.vocab_size, alpha=args.alpha, seed=args.seed
    )
    tok.save_pretrained(args.output)
    bench = load_tatoeba().by_language()
    rates = unk_rate_by_language(tok, {l: v[0] for l, v in bench.items()})
    print(
        json.dumps(
            {
                "vocab_size": len(tok),
                "output": args.output,
                "unk_rate_tatoeba": rates,
            },
            indent=1,
        )
    )
    return 0


def _read_lines(path: str) -> list[str]:
    """Sentences of a UTF-8 text file, one per line; empty lines are an
    error (they would be mined against everything)."""
    from .data import DataError

    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(
                f"{path}:{i}: empty line; remove empty lines before mining"
            )
    if not lines:
        raise DataError(f"{path} has no sentences")
    return [line.rstrip("\r") for line in lines]


def _cmd_mine(args) -> int:
    import time

    import numpy as np

    from . import mining

    sides, texts = [], []
    model = None
    for path in (args.src, args.tgt):
        if path.endswith(".npy"):
            sides.append(np.load(path))
            texts.append(None)
            continue
        sentences = _read_lines(path)
        if model is None:
            if not args.model:
                raise ValueError(
                    "text input needs --model (a directory "
                    "written by `labse-lite train`)"
                )
            from .model import DualEncoder

            model = DualEncoder.from_pretrained(args.model)
        sides.append(
            model.encode(
                sentences,
                batch_size=args.batch_size,
                show_progress_bar=not args.quiet,
                convert_to_numpy=True,
            )
        )
        texts.append(sentences)
    choice = mining.choose_index(
        max(len(sides[0]), len(sides[1])),
        sides[0].shape[1],
        args.k,
        args.index,
        nlist=args.nlist,
        nprobe=args.nprobe,
    )
    if not args.quiet:
        print(
            f"mining {len(sides[0])} x {len(sides[1])} with "
            f"{choice.describe()}",
            file=sys.stderr,
            flush=True,
        )
    start = time.perf_counter()
    pairs = mining.mine(
        sides[0],
        sides[1],
        k=args.k,
        scoring=args.scoring,
        mode=args.mode,
        threshold=args.threshold,
        index=args.index,
        show_progress_bar=not args.quiet,
        nlist=args.nlist,
        nprobe=args.nprobe,
    )
    seconds = time.perf_counter() - start
    src_text = texts[0] or [str(i) for i in range(len(sides[0]))]
    tgt_text = texts[1] or [str(i) for i in range(len(sides[1]))]
    written = mining.write_tsv(args.output, pairs, src_text, tgt_text)
    print(
        json.dumps(
            {
                "source": len(sides[0]),
                "target": len(sides[1]),
                "pairs": written,
                "output": args.output,
                "k": args.k,
                "scoring": args.scoring,
                "mode": args.mode,
                "threshold": args.threshold,
                "index": choice.describe(),
                "mining_seconds": round(seconds, 3),
            },
            indent=1,
        )
    )
    return 0


def _cmd_reference(args) -> int:
    from .book import reference

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, not {args.threads}")
    config = dataclasses.replace(
        reference.reference_config(), threads=args.threads
    )
    folder = reference.reference_teacher(config, progress=not args.quiet)
    summary = json.loads((folder.parent / "summary.json").read_text())
    averages = summary.get("eval", {}).get("tatoeba_avg_xx2en", {})
    out = {
        "teacher": str(folder),
        "key": reference.cache_key(config),
        "tatoeba_xtreme36": averages.get("xtreme36"),
        "train_seconds": summary.get("train_seconds"),
    }
    if args.encoder:
        from .pretrain import PretrainConfig

        enc = PretrainConfig(**reference.REFERENCE_ENCODER)
        if args.threads is not None:
            enc = dataclasses.replace(enc, threads=args.threads)
        out["encoder"] = str(
            reference.reference_encoder(enc, progress=not args.quiet)
        )
    print(json.dumps(out, indent=1))
    return 0


def _cmd_course(args) -> int:
    from .book import course

    if args.action == "instructor":
        book = Path(args.book)
        if not book.is_dir():
            raise FileNotFoundError(f"no book folder {book}")
        written = course.instructor_copy(book, args.out)
        if not written:
            raise FileNotFoundError(f"no chapter with solutions in {book}")
        for path in written:
            print(path)
        print(f"{len(written)} chapters with solutions in {args.out}")
        return 0
    missing = [p for p in args.notebooks if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"no notebook {', '.join(missing)}")
    return course.grade(args.notebooks, strict=not args.lenient)


def _add_train_parser(sub, name: str, text: str, func) -> None:
    """``train`` and ``distill``: every TrainConfig field as a flag, plus
    the corpus files."""
    from .train import TrainConfig

    parser = sub.add_parser(name, help=text, description=TrainConfig.__doc__)
    parser.add_argument(
        "--config", help="JSON file of TrainConfig fields (flags override it)"
    )
    _add_config_flags(parser, TrainConfig)
    parser.add_argument(
        "--pairs-file",
        help="train on these pairs: a "
        "`lang<TAB>xx<TAB>en` TSV (.gz ok) instead of the "
        "shipped data",
    )
    parser.add_argument(
        "--benchmark-file",
        help="evaluate on these pairs (same format) instead of Tatoeba-v1",
    )
    parser.set_defaults(func=func)


def _add_pretrain_parser(sub) -> None:
    """``pretrain``: every PretrainConfig field as a flag, plus the
    pairs file."""
    from .pretrain import PretrainConfig

    p_pre = sub.add_parser(
        "pretrain",
        help="pre-train an encoder (MLM + TLM, progressive "
        "stacking) to initialise `train --init-model DIR/model`",
        description=PretrainConfig.__doc__,
    )
    p_pre.add_argument(
        "--config",
        help="JSON file of PretrainConfig fields (flags override it)",
    )
    _add_config_flags(p_pre, PretrainConfig)
    p_pre.add_argument(
        "--pairs-file",
        help="pre-train on these pairs: a `lang<TAB>xx<TAB>en` TSV (.gz ok)",
    )
    p_pre.set_defaults(func=_cmd_pretrain)


def _encode_length(text: str) -> int | str:
    """``--encode-length``: a token count or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of tokens or 'auto', got {text!r}"
        ) from None


def _add_eval_parser(sub) -> None:
    """``eval``: Tatoeba and large-pool accuracy of a saved model."""
    p_eval = sub.add_parser(
        "eval", help="Tatoeba + large-pool accuracy of a saved model, as JSON"
    )
    p_eval.add_argument(
        "--model",
        required=True,
        help="directory written by train (…/model) or a hub name",
    )
    p_eval.add_argument(
        "--languages",
        nargs="+",
        default=None,
        metavar="CODE",
        help="Tatoeba languages (default all 112)",
    )
    p_eval.add_argument("--source", default="local", choices=["local", "hub"])
    p_eval.add_argument("--batch-size", type=int, default=256)
    p_eval.add_argument(
        "--encode-length",
        "--max-length",
        dest="encode_length",
        type=_encode_length,
        default="auto",
        metavar="N|auto",
        help="tokens per sentence at encode time (default 'auto': the "
        "shortest, not below the training length, that truncates under 5%% "
        'of the benchmark); the JSON\'s "encoding" records it',
    )
    p_eval.add_argument("--output", help="also write the JSON here")
    p_eval.add_argument(
        "--quiet", action="store_true", help="no progress bars"
    )
    p_eval.set_defaults(func=_cmd_eval)


def _add_mine_parser(sub) -> None:
    """``mine``: pairs from two corpora by kNN and margin scoring."""
    p_mine = sub.add_parser(
        "mine",
        help="mine translation pairs from two corpora",
        description="Pair sentences of SRC with sentences of TGT by kNN "
        "search and margin scoring (LASER/BUCC practice); writes "
        "score<TAB>src<TAB>tgt lines.  SRC/TGT are UTF-8 text files, one "
        "sentence per line, or .npy embedding matrices (L2-normalised).",
    )
    p_mine.add_argument("src")
    p_mine.add_argument("tgt")
    p_mine.add_argument("--model", help="model directory (for text input)")
    p_mine.add_argument("--output", default="mined.tsv")
    p_mine.add_argument(
        "--k",
        type=int,
        default=4,
        help="neighbours for the margin (default 4)",
    )
    p_mine.add_argument(
        "--scoring", default="ratio", choices=["ratio", "distance", "absolute"]
    )
    p_mine.add_argument(
        "--mode",
        default="max",
        choices=["forward", "backward", "intersection", "max"],
    )
    p_mine.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="keep pairs scoring at least this (absolute: "
        "the paper's 0.6 cosine)",
    )
    p_mine.add_argument(
        "--index",
        default="auto",
        choices=["auto", "exact", "approx", "ivf", "hnsw"],
        help="auto (default): exact search up to 200,000 "
        "sentences, IVF above; approx is IVF",
    )
    p_mine.add_argument(
        "--nlist",
        type=int,
        default=None,
        help="IVF cells (default: the power of two nearest 2*sqrt(n))",
    )
    p_mine.add_argument(
        "--nprobe",
        type=int,
        default=None,
        help="IVF cells scanned per query (default: nlist/32, at least 32)",
    )
    p_mine.add_argument("--batch-size", type=int, default=256)
    p_mine.add_argument("--quiet", action="store_true")
    p_mine.set_defaults(func=_cmd_mine)


def _add_vocab_parser(sub) -> None:
    """``vocab``: a WordPiece vocabulary and its [UNK] rates."""
    p_vocab = sub.add_parser(
        "vocab", help="train a WordPiece vocabulary and report [UNK] rates"
    )
    p_vocab.add_argument("--output", required=True)
    p_vocab.add_argument("--vocab-size", type=int, default=64000)
    p_vocab.add_argument(
        "--alpha", type=float, default=0.3, help="language smoothing exponent"
    )
    p_vocab.add_argument("--seed", type=int, default=0)
    p_vocab.set_defaults(func=_cmd_vocab)


def _add_reference_parser(sub) -> None:
    """``reference``: the cached reference model (and encoder)."""
    p_ref = sub.add_parser(
        "reference",
        help="build (once) and print the cached reference "
        "model that chapters 05, 07 and 08 use",
        description="Train the reference dual encoder unless a copy with "
        "its exact config and data is cached (runs/cache, or "
        "$LABSE_LITE_CACHE); print its folder and accuracy as JSON.",
    )
    p_ref.add_argument(
        "--encoder",
        action="store_true",
        help="also the pre-trained reference encoder (chapter 10)",
    )
    p_ref.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for a build (default: torch's)",
    )
    p_ref.add_argument("--quiet", action="store_true", help="no progress bars")
    p_ref.set_defaults(func=_cmd_reference)


def _add_course_parser(sub) -> None:
    """``course instructor|grade``: the book as a course."""
    p_course = sub.add_parser(
        "course",
        help="the book as a course: an instructor copy with the "
        "solutions, or grade the exercises of students' notebooks",
        description="instructor OUT: write every chapter with its "
        "exercise solutions filled in (from book/solutions) to OUT.  "
        "grade NOTEBOOK...: run only the exercise sections of the "
        "notebooks and print each one's score (exit 1 unless all are "
        "right).  The full grader is `LABSE_LITE_GRADE=1 pytest --nbval "
        "NOTEBOOK`, which re-runs whole chapters.",
    )
    course_sub = p_course.add_subparsers(dest="action", required=True)
    p_inst = course_sub.add_parser(
        "instructor", help="write the instructor copy"
    )
    p_inst.add_argument("out", help="folder for the filled-in chapters")
    p_inst.add_argument(
        "--book", default="book", help="the book folder (default: book)"
    )
    p_grade = course_sub.add_parser(
        "grade", help="grade the exercise sections of notebooks"
    )
    p_grade.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p_grade.add_argument(
        "--lenient",
        action="store_true",
        help="report unattempted exercises without counting them as failures",
    )
    p_course.set_defaults(func=_cmd_course)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labse-lite",
        description="Train and evaluate LaBSE-style dual encoders.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    _add_train_parser(sub, "train", "train a dual encoder", _cmd_train)
    _add_train_parser(
        sub,
        "distill",
        "train a (small) student from a "
        "frozen teacher with LEALLA's feature and logit "
        "losses beside the AMS loss",
        _cmd_distill,
    )
    _add_pretrain_parser(sub)
    _add_eval_parser(sub)
    _add_mine_parser(sub)
    _add_vocab_parser(sub)
    _add_reference_parser(sub)
    _add_course_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as err:
        from .data import DataError  # noqa: F401  (DataError is a ValueError)

        print(f"labse-lite {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
