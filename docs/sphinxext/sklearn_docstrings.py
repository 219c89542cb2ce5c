"""Methods inherited from scikit-learn, documented without its cross-references.

The API pages show the methods our estimators inherit from scikit-learn
(``score``, ``get_params``, ``set_fit_request``, ...) with scikit-learn's
docstrings. Those refer to labels and glossary terms of scikit-learn's own
documentation (``:ref:`accuracy_score```, ``:term:`meta-estimator```), which
this site does not have and cannot fetch at build time (no network). In
docstrings of objects defined in scikit-learn, a glossary term becomes a
link to scikit-learn's glossary and a label reference becomes its text.
"""

import re

GLOSSARY = "https://scikit-learn.org/stable/glossary.html"

_TERM = re.compile(r":term:`([^`<]+?)(?:\s*<([^`>]+)>)?`")
_REF = re.compile(r":ref:`([^`<]+?)(?:\s*<([^`>]+)>)?`")


def _glossary_link(match):
    text, term = match.group(1).strip(), (match.group(2) or match.group(1)).strip()
    anchor = re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")
    return f"`{text} <{GLOSSARY}#term-{anchor}>`__"


def _ref_text(match):
    text = match.group(1).strip()
    # a bare label is written like a name: accuracy_score -> "accuracy_score"
    return f"``{text}``" if match.group(2) is None else text


def _rewrite(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module != "sklearn" and not module.startswith("sklearn."):
        return
    text = "\n".join(lines)
    text = _REF.sub(_ref_text, _TERM.sub(_glossary_link, text))
    lines[:] = text.split("\n")


def setup(app):
    # before numpydoc (priority 500) turns the docstring into reST
    app.connect("autodoc-process-docstring", _rewrite, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
