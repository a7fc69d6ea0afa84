#!/usr/bin/env python
"""Put the rendered book's MathJax into ``_mathjax_static/mathjax`` (served
as ``_static/mathjax``) so that math
renders with no network (``make book`` runs this first).

MathJax 3 comes from the npm registry, pinned with its sha512 in
``package-lock.json`` (``npm ci`` checks it), and only what the pages
load is copied: the TeX-to-HTML combined component, the TeX extensions
it may autoload, the HTML fonts and the menu/accessibility components.
``_config.yml`` points Sphinx's ``mathjax_path`` at the copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "_mathjax_static" / "mathjax"
PARTS = [
    "tex-chtml.js",
    "input/tex/extensions",
    "output/chtml/fonts/woff-v2",
    "a11y",
    "ui",
]


def main() -> int:
    source = ROOT / "node_modules" / "mathjax" / "es5"
    if not (source / "tex-chtml.js").is_file():
        npm = shutil.which("npm")
        if npm is None:
            print(
                "site_assets: npm is needed to fetch MathJax (pinned in "
                "package-lock.json); install Node.js and npm",
                file=sys.stderr,
            )
            return 1
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ROOT,
            check=True,
        )
    shutil.rmtree(TARGET, ignore_errors=True)
    for part in PARTS:
        src, dst = source / part, TARGET / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    print(f"site_assets: MathJax in {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
