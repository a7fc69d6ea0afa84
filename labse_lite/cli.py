"""Command line: ``labse-lite train|eval|vocab`` (also ``python -m labse_lite``).

``train`` exposes every :class:`labse_lite.train.TrainConfig` field as a
flag (``--margin 0.2 --languages deu fra``); ``eval`` prints JSON with
per-language and averaged Tatoeba and large-pool accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing


def _field_comments(cls) -> dict[str, str]:
    """The one-line comment after each dataclass field, used as --help."""
    import inspect
    import re

    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+): [^#]*#\s*(.*)", line)
        if match:
            comments[match.group(1)] = match.group(2)
    return comments


def _add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if typing.get_origin(hint) in (typing.Union, getattr(
                __import__("types"), "UnionType", typing.Union)):
            hint = next(a for a in typing.get_args(hint)
                        if a is not type(None))
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING \
            else f.default_factory()
        text = f"{comments.get(f.name, '')} (default: {default})"
        if typing.get_origin(hint) is list:
            parser.add_argument(flag, dest=f.name, nargs="*",
                                default=argparse.SUPPRESS, metavar="CODE",
                                help=text)
        elif hint is bool:
            parser.add_argument(flag, dest=f.name,
                                action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=text)
        else:
            parser.add_argument(flag, dest=f.name, type=_none_or(hint),
                                default=argparse.SUPPRESS, help=text)


def _none_or(kind):
    def parse(text: str):
        if text.lower() == "none":
            return None
        return kind(text)
    parse.__name__ = kind.__name__
    return parse


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    values = {}
    if args.config:
        with open(args.config) as handle:
            values.update(json.load(handle))
    values.update({k: v for k, v in vars(args).items()
                   if k in {f.name for f in dataclasses.fields(TrainConfig)}})
    try:
        config = TrainConfig(**values)
        config.validate()
    except (TypeError, ValueError) as err:
        print(f"labse-lite train: {err}", file=sys.stderr)
        return 2
    summary = train(config)
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


def _cmd_eval(args) -> int:
    from .data import load_tatoeba
    from .evaluate import evaluate_all
    from .model import DualEncoder

    corpus = load_tatoeba(args.languages, source=args.source)
    model = DualEncoder.from_pretrained(args.model)
    if args.max_length:
        model.max_length = args.max_length
    results = evaluate_all(model, corpus, batch_size=args.batch_size,
                           show_progress_bar=not args.quiet)
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
    tok = train_wordpiece(texts, vocab_size=args.vocab_size,
                          alpha=args.alpha, seed=args.seed)
    tok.save_pretrained(args.output)
    bench = load_tatoeba().by_language()
    rates = unk_rate_by_language(tok, {l: v[0] for l, v in bench.items()})
    print(json.dumps({"vocab_size": len(tok), "output": args.output,
                      "unk_rate_tatoeba": rates}, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .train import TrainConfig

    parser = argparse.ArgumentParser(
        prog="labse-lite",
        description="Train and evaluate LaBSE-style dual encoders.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_train = sub.add_parser("train", help="train a dual encoder",
                             description=TrainConfig.__doc__)
    p_train.add_argument("--config", help="JSON file of TrainConfig fields "
                         "(flags override it)")
    _add_config_flags(p_train, TrainConfig)
    p_train.set_defaults(func=_cmd_train)

    p_eval = sub.add_parser("eval", help="Tatoeba + large-pool accuracy "
                            "of a saved model, as JSON")
    p_eval.add_argument("--model", required=True,
                        help="directory written by train (…/model) or a "
                        "hub name")
    p_eval.add_argument("--languages", nargs="+", default=None,
                        metavar="CODE", help="Tatoeba languages (default "
                        "all 112)")
    p_eval.add_argument("--source", default="local",
                        choices=["local", "hub"])
    p_eval.add_argument("--batch-size", type=int, default=256)
    p_eval.add_argument("--max-length", type=int, default=None)
    p_eval.add_argument("--output", help="also write the JSON here")
    p_eval.add_argument("--quiet", action="store_true",
                        help="no progress bars")
    p_eval.set_defaults(func=_cmd_eval)

    p_vocab = sub.add_parser("vocab", help="train a WordPiece vocabulary "
                             "and report [UNK] rates")
    p_vocab.add_argument("--output", required=True)
    p_vocab.add_argument("--vocab-size", type=int, default=32000)
    p_vocab.add_argument("--alpha", type=float, default=0.3,
                         help="language smoothing exponent")
    p_vocab.add_argument("--seed", type=int, default=0)
    p_vocab.set_defaults(func=_cmd_vocab)
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
