"""Names and labels for a traced rule: each value named after the rule's variable it was bound
to (m, v, v_hat, theta, ...), each operation labelled with the rule line it came from.

While the rule runs on symbols (trace.py), a Recorder watches it under sys.settrace, with line
events on the rule's frame and on the frames it calls (optim.common.weight_decay, ...), not on
the machinery's own (the symbols' operators, h's attributes, NumPy). An operation records the
line its innermost watched frame is on: its site. At the next line event of a frame, or its
return, a new value bound to one of its local variables takes that variable's name. Names are
then made unique in the order the values were made (m, m_1, ...), as in SSA form; a value no
variable held (a sub-expression) is named after the variable its line binds (m_tmp1, ...).
"""
import io
import linecache
import os
import re
import sys
import tokenize
import unicodedata

# the modules whose frames are machinery, not the rule: by module name, not file name (a file
# name may be spelled with ".." when a program put such a path on sys.path)
_MACHINERY = ("optim.executor.", "optim.scalars", "numpy.")

# names the generated code itself uses, in Python (Numba's loop, the NumPy program) and in C
# (the CUDA kernel): a rule's variable of such a name takes a suffix
RESERVED = {"np", "T", "i", "n", "loop", "program", "range", "bool", "int", "float", "double",
            "char", "long", "short", "const", "unsigned", "signed", "void", "if", "else", "for",
            "while", "do", "return", "switch", "case", "break", "continue", "goto", "struct",
            "union", "enum", "typedef", "static", "extern", "auto", "register", "volatile",
            "sizeof", "inline", "true", "false", "sqrt", "exp", "log", "fabs", "isnan", "max",
            "min", "abs", "template", "class", "new", "delete", "this", "operator", "namespace"}
_WORK = re.compile(r"(w|mask)\d+$")  # the NumPy program's work arrays


def _is_machinery(frame):
    """True for a frame of the tracer itself, of Scalars, or of NumPy: not a line of the rule."""
    module = frame.f_globals.get("__name__", "")
    return module == "numpy" or module.startswith(_MACHINERY)


class Recorder:
    """Watches a rule run on symbols: the site of each operation, and the variable each new
    value was first bound to. Use as a context manager around the call."""

    def __init__(self, rule, is_value):
        self.code = getattr(rule, "__code__", None)
        self.is_value = is_value  # is this object a traced value (a Sym)?
        self.frames = {}          # a watched frame -> its current site
        self.sites = []           # site -> (file name, line number)
        self.bound = {}           # a value -> the name of the first variable it was bound to
        self.functions = []       # the code of every watched function, in the order first called

    def __enter__(self):
        self.previous = sys.gettrace()
        if self.code is not None:
            sys.settrace(self._call)
        return self

    def __exit__(self, *exc):
        sys.settrace(self.previous)  # a debugger's or coverage's tracer, if one was set

    def site(self):
        """The site of an operation being recorded now: its innermost watched frame's line."""
        frame = sys._getframe(1)
        while frame is not None:
            site = self.frames.get(frame)
            if site is not None:
                return site
            frame = frame.f_back
        return None

    def _call(self, frame, event, arg):
        code = frame.f_code
        if code is self.code or (frame.f_back in self.frames
                                 and not _is_machinery(frame)):
            if code not in self.functions:
                self.functions.append(code)
            self.frames[frame] = self._new_site(frame)
            return self._event
        return None

    def _event(self, frame, event, arg):
        if event == "line":
            self._bind(frame.f_locals.items())
            self.frames[frame] = self._new_site(frame)
        elif event == "return":
            self._bind(frame.f_locals.items())
            if isinstance(arg, dict):  # a declaration's rule returns its new values by name
                self._bind(arg.items())
            del self.frames[frame]
        return self._event

    def _new_site(self, frame):
        self.sites.append((frame.f_code.co_filename, frame.f_lineno))
        return len(self.sites) - 1

    def _bind(self, items):
        for name, value in items:
            if self.is_value(value) and value.name is None and value not in self.bound:
                self.bound[value] = name


def name_values(lines, bound, taken):
    """Give every value of the trace (lines: (value, operation) pairs, in order) a unique name:
    the variable it was bound to, else `<variable its line binds>_tmp<k>`, else `tmp<k>`.
    taken: the names already given (the rule's arguments, h's numbers)."""
    taken = set(taken) | RESERVED
    for value, _ in lines:
        if value in bound:
            value.name = unique(identifier(bound[value]), taken)
    binds = {}  # site -> the variable a value made there was bound to (the last one)
    for value, _ in lines:
        if value in bound:
            binds[value.site] = identifier(bound[value])
    count = {}
    for value, _ in lines:
        if value.name is None:
            base = binds.get(value.site)
            prefix = f"{base}_tmp" if base else "tmp"
            count[prefix] = count.get(prefix, 0) + 1
            value.name = unique(f"{prefix}{count[prefix]}", taken)


def identifier(name):
    """The name as an identifier that Python and C both accept (ASCII)."""
    name = re.sub(r"\W", "_", ascii_text(name).replace(" ", "_"))
    return name if name and not name[0].isdigit() else f"v_{name}"


def unique(name, taken):
    """name, or name_1, name_2, ...: the first not taken (and now taken)."""
    candidate, k = name, 0
    while candidate in taken or _WORK.match(candidate):
        k += 1
        candidate = f"{name}_{k}"
    taken.add(candidate)
    return candidate


def label(site_location):
    """A rule line's label: its trailing comment (the equation it computes), else its code."""
    filename, lineno = site_location
    line = linecache.getline(filename, lineno).strip()
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):  # a line of a longer statement
        pass
    return line or f"{os.path.basename(filename)}:{lineno}"


_ASCII = {"θ": "theta", "β": "beta", "ε": "eps", "λ": "lambda", "μ": "mu", "τ": "tau", "ρ": "rho",
          "η": "eta", "α": "alpha", "γ": "gamma", "δ": "delta", "Δ": "Delta", "σ": "sigma",
          "ν": "nu", "φ": "phi", "ψ": "psi", "ω": "omega", "π": "pi", "←": "<-", "→": "->",
          "²": "^2", "³": "^3", "√": "sqrt", "·": "*", "×": "*", "⊙": "*", "≥": ">=", "≤": "<=",
          "≠": "!=", "−": "-", "±": "+/-", "∞": "inf", "…": "...", "\u0302": "_hat", "ˆ": "^",
          "₀": "0", "₁": "1", "₂": "2", "ᵗ": "^t", "∑": "sum"}


def ascii_text(text):
    """The text in ASCII, Greek letters and math signs spelled out (θ -> theta, m̂ -> m_hat)."""
    out = ""
    for ch in unicodedata.normalize("NFD", text):
        spelled = ch if ch.isascii() else _ASCII.get(ch, "?")
        if not ch.isascii() and spelled[0].isalpha() and out[-1:].isalnum():
            spelled = " " + spelled  # λθ -> lambda theta
        out += spelled
    return out
