"""The optimizers' plain-text equations, as LaTeX for the documentation site.

Each optimizer's docstring and the trailing comments of its update rule write the equations in
Unicode, the way they read in a terminal: `m ← β1 m + (1 - β1) g`, `θ ← θ - lr m̂ / (sqrt(v̂) + ε)`.
`to_latex` turns one such line into LaTeX for KaTeX, so the site renders the very text that is in
the source (nothing is typed twice):

    β1 → \\beta_1     m̂ → \\hat{m}     g² → g^{2}     β1^t → \\beta_1^{t}     sqrt(x) → \\sqrt{x}
    v_max → v_{\\max}     lr → \\mathrm{lr}     lr_decay → \\mathrm{lr\\_decay}     ← → \\leftarrow
    words of prose ("if centered, else") → \\text{...}

`is_equation` tells an equation from a comment in words ("maximize; decoupled or L2 decay").
"""
import re
import unicodedata

GREEK = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon",
    "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "κ": r"\kappa", "λ": r"\lambda", "μ": r"\mu",
    "ν": r"\nu", "ξ": r"\xi", "π": r"\pi", "ρ": r"\rho", "σ": r"\sigma", "τ": r"\tau",
    "φ": r"\phi", "χ": r"\chi", "ψ": r"\psi", "ω": r"\omega", "Γ": r"\Gamma", "Δ": r"\Delta",
    "Θ": r"\Theta", "Λ": r"\Lambda", "Π": r"\Pi", "Σ": r"\Sigma", "Φ": r"\Phi", "Ψ": r"\Psi",
    "Ω": r"\Omega", "∞": r"\infty",
}
ACCENTS = {"\u0302": r"\hat", "\u0304": r"\bar", "\u0303": r"\tilde"}  # combining ^ ¯ ~
SYMBOLS = {"←": r"\leftarrow", "→": r"\rightarrow", "·": r"\cdot", "×": r"\times",
           "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "≈": r"\approx", "||": r"\|", "²": "^{2}",
           ";": r";\quad ", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "#": r"\#"}
OPERATORS = {"max": r"\max", "min": r"\min", "exp": r"\exp", "log": r"\log",
             "sign": r"\operatorname{sign}", "mean": r"\operatorname{mean}",
             "clip": r"\operatorname{clip}", "RMS": r"\operatorname{RMS}",
             "abs": r"\operatorname{abs}"}
NAMES = {"lr"}  # multi-letter names that are symbols, not words

_LETTER = r"(?:[^\W\d_¹²³]|∞)[\u0300-\u036f]*"
_TOKEN = re.compile(rf"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:e-?\d+)?)
  | (?P<name>{_LETTER}(?:{_LETTER}|\d)*(?:_(?:\{{[^}}]*\}}|(?:{_LETTER}|\d)+))*)
  | (?P<op>\|\||.)
""", re.VERBOSE)


def _tokens(text):
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text)]


def _letter(ch):
    """One letter with its combining accents: m̂ → \\hat{m}, β → \\beta."""
    base, accents = ch[0], ch[1:]
    tex = GREEK.get(base, base)
    for a in accents:
        tex = ACCENTS.get(a, "") + "{" + tex + "}" if a in ACCENTS else tex
    return tex


def _subscript(sub):
    if sub.startswith("{"):
        return "{" + to_latex(sub[1:-1]) + "}"
    if sub in ("max", "min"):
        return "{\\" + sub + "}"
    if len(re.findall(_LETTER, sub)) > 1 and not all(c in GREEK for c in sub):
        return r"{\text{" + sub + "}}"
    return "{" + "".join(_letter(c) for c in re.findall(_LETTER + r"|\d", sub)) + "}"


def _is_word(name):
    """A word of prose (as opposed to a symbol): two or more Latin letters, not an operator."""
    return bool(re.fullmatch(r"[A-Za-z]{2,}", name)) and name not in OPERATORS and name not in NAMES


def _name(name):
    """A symbol: β1 → \\beta_{1}; β̂2_t → \\hat{\\beta}_{2,t}; v_max → v_{\\max}; Δθ → \\Delta\\theta."""
    head, *subs = re.split(r"_(?![^{]*\})", name)
    if name in OPERATORS:
        return OPERATORS[name]
    if name in NAMES or (subs and re.fullmatch(r"[A-Za-z]{2,}\d*", head)):
        # a thin space after it, or "lr λ" reads as one word "lrλ"
        return r"\mathrm{" + name.replace("_", r"\_") + r"}\,"
    letters = re.findall(_LETTER, head)
    digits = head[len("".join(letters)):]
    tex = "".join(_letter(c) for c in letters)
    sub = [_subscript(s)[1:-1] for s in subs]
    if digits:
        sub.insert(0, digits)
    return tex + ("_{" + ",".join(sub) + "}" if sub else "")


def _pieces(tokens, i=0, close=None):
    """Convert tokens from i up to the matching `close`: a list of ("math" | "text" | "space", s)."""
    out = []
    while i < len(tokens):
        kind, tok = tokens[i]
        if tok == close:
            return out, i
        if kind == "space":
            out.append(("space", tok))
        elif kind == "number":
            out.append(("math", tok))
        elif kind == "name" and i + 1 < len(tokens) and tokens[i + 1][1] == "(" and (
                tok == "sqrt" or tok in OPERATORS):
            inner, i = _pieces(tokens, i + 2, ")")
            body = _join(inner)
            out.append(("math", r"\sqrt{" + body + "}" if tok == "sqrt"
                        else OPERATORS[tok] + "(" + body + ")"))
        elif kind == "name":
            out.append(("text", tok) if _is_word(tok) else ("math", _name(tok)))
        elif tok == "(":
            inner, i = _pieces(tokens, i + 1, ")")
            out.append(("math", "(" + _join(inner) + ")"))
        elif tok == "^":
            # the exponent is the next atom; a parenthesised one loses its parentheses
            if i + 1 < len(tokens) and tokens[i + 1][1] == "(":
                inner, i = _pieces(tokens, i + 2, ")")
                out.append(("math", "^{" + _join(inner) + "}"))
            else:
                atom, _ = _pieces(tokens[i + 1:i + 2])
                out.append(("math", "^{" + _join(atom) + "}"))
                i += 1
        elif tok in SYMBOLS:
            out.append(("math", SYMBOLS[tok]))
        elif tok in "\\$~":
            out.append(("math", {"\\": r"\backslash ", "$": r"\$", "~": r"\sim "}[tok]))
        else:
            out.append(("punct", tok))
        i += 1
    return out, i


def _join(pieces):
    """Pieces to LaTeX: runs of words (with the spaces and punctuation between them) become one
    \\text{...}; a single letter between two words is prose too ("for a vector")."""
    pieces = list(pieces)
    kinds = [k for k, _ in pieces]
    for j, (k, s) in enumerate(pieces):
        if k == "math" and re.fullmatch(r"[A-Za-z]", s):
            before = [x for x in kinds[:j] if x != "space"]
            after = [x for x in kinds[j + 1:] if x != "space"]
            if before and after and before[-1] == "text" and after[0] == "text":
                pieces[j] = ("text", s)
    # punctuation joins the text run it touches (", else"; "second-last"); else it is math
    for j, (k, s) in enumerate(pieces):
        if k == "punct":
            near = [pieces[j - 1][0] if j else None, pieces[j + 1][0] if j + 1 < len(pieces) else None]
            pieces[j] = ("text" if "text" in near and s in ",.:-'\"!?" else "math", s)
    out, text = [], None
    for j, (k, s) in enumerate(pieces):
        if k == "text" or (k == "space" and text is not None):
            text = (text or "") + s
            continue
        if text is not None:
            out.append(_text(text))
            text = None
        if k == "space":
            # a space before a word keeps the word apart from the symbol before it
            nxt = pieces[j + 1][0] if j + 1 < len(pieces) else None
            out.append(r"\ " if nxt == "text" and out else " ")
        else:
            out.append(s)
    if text is not None:
        out.append(_text(text.rstrip()))
    return "".join(out).strip()


def _text(s):
    for a, b in (("\\", r"\textbackslash "), ("{", r"\{"), ("}", r"\}"), ("_", r"\_"),
                 ("%", r"\%"), ("&", r"\&"), ("#", r"\#"), ("$", r"\$"), ("^", r"\^{}")):
        s = s.replace(a, b)
    return r"\text{" + s + "}"


def to_latex(line):
    """One line of plain-text math (Unicode symbols, words of prose) as LaTeX."""
    # NFD: a precomposed ŝ or ḡ becomes s or g and its combining accent
    pieces, _ = _pieces(_tokens(unicodedata.normalize("NFD", line.strip())))
    return _join(pieces)


def is_equation(text):
    """True for `m ← β1 m + (1 - β1) g`, `m̂`, `ρ_t`; False for words with a symbol in them,
    such as `ε before the correction` or `maximize; decoupled or L2 decay`."""
    text = unicodedata.normalize("NFD", text)
    if "←" in text or "=" in text:
        return True
    return not any(kind == "name" and _is_word(tok) for kind, tok in _tokens(text))
