"""The checkers of the book's exercises, one module per chapter
(``ch02.py`` checks chapter 02's exercises "2.1", "2.2", ...).  Importing
this package registers them all with :mod:`labse_lite.grading`."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
