"""A Sphinx extension for the rendered book: drop repeated <script> tags.

sphinx-thebe adds its inline configuration script (``const THEBE_JS_URL =
...``) twice to every page under Jupyter Book 1, and the second copy is a
``SyntaxError`` in the browser console.  Identical scripts (same file,
same attributes, same inline body) are kept once.  tests/test_site.py
checks that the pages load without console errors.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # file (None and "" both mean an inline script), priority and
        # attributes, the inline body among them
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", None) or "",
               getattr(script, "priority", None),
               tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
