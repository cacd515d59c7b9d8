"""Reading an operator's URL pattern for a host part that can run too far.

An ``api_base`` pattern like ``^https://litellm.*direct\\.fireworks\\.ai/v1$``
admits ``https://litellm.attacker.example/x.direct.fireworks.ai/v1``: its
host part can run across dots and into the path. :func:`loose_host` finds
such parts, so the config loader can warn about them.

It is a heuristic over the pattern's text, not its meaning. It reads each
top-level alternative from just after ``://`` (or from its start when it has
none) up to the first literal ``/``, and flags any piece there that can match
a dot or a slash, except a single escaped dot ``\\.``: an unescaped ``.``,
``\\S``, ``\\W``, ``\\D``, a class that can match one of them, or a repeated
group holding any of these or an escaped dot. Lookarounds, backreferences and
a scheme written inside a group are not understood.
"""

from __future__ import annotations

import re

SEPARATORS = "./"
_QUANTIFIER = re.compile(r"(?:([*+?])|\{(\d+)(,?)(\d*)\})[?+]?")
_RANGE = re.compile(r"\\?(.)-\\?(.)")
_GROUP_PREFIX = re.compile(r"\?(?:[:=!>]|<[=!]|P?<[A-Za-z_]\w*>|[aiLmsux-]+:)")
_WIDE_ESCAPES = ("\\S", "\\W", "\\D")

Atom = tuple[str, bool]  # (source text, repeated)


def loose_host(source: str) -> bool:
    """True when a branch's host part has a piece that can take in a dot or slash."""
    return any(loose(host_part(branch)) for branch in branches(source))


def host_part(branch: str) -> list[Atom]:
    """The atoms after the scheme separator, up to the first literal slash."""
    for marker in ("://", ":\\/\\/"):
        at = branch.find(marker)
        if at >= 0:
            branch = branch[at + len(marker):]
            break
    found = []
    for atom, repeated in atoms(branch):
        if atom in ("/", "\\/"):
            break
        found.append((atom, repeated))
    return found


def loose(parts: list[Atom]) -> bool:
    for atom, repeated in parts:
        if repeated and crosses(atom):
            return True
        if atom.startswith("("):
            if any(loose(atoms(b)) for b in branches(group_body(atom))):
                return True
        elif crosses(atom) and atom not in ("\\.", "[.]"):
            return True
    return False


def crosses(atom: str) -> bool:
    """Whether ``atom`` can match a dot or a slash."""
    if atom.startswith("\\"):
        return atom[1:2] in SEPARATORS or atom in _WIDE_ESCAPES
    if atom.startswith("["):
        return class_crosses(atom[1:-1])
    if atom.startswith("("):
        body = group_body(atom)
        return any(crosses(a) for b in branches(body) for a, _ in atoms(b))
    return atom in SEPARATORS


def class_crosses(body: str) -> bool:
    negated = body.startswith("^")
    body = body[1:] if negated else body
    members = [char for char in SEPARATORS if char in body or in_range(char, body)]
    if negated:
        return len(members) < len(SEPARATORS)
    return bool(members) or any(escape in body for escape in _WIDE_ESCAPES)


def in_range(char: str, body: str) -> bool:
    return any(lo <= char <= hi for lo, hi in _RANGE.findall(body))


def group_body(atom: str) -> str:
    body = atom[1:-1]
    prefix = _GROUP_PREFIX.match(body)
    return body[prefix.end():] if prefix else body


def branches(text: str) -> list[str]:
    """``text`` split at its top-level ``|``."""
    found, start, index = [], 0, 0
    while index < len(text):
        end = atom_end(text, index)
        if text[index:end] == "|":
            found.append(text[start:index])
            start = end
        index = end
    found.append(text[start:])
    return found


def atoms(text: str) -> list[Atom]:
    """The pieces of ``text`` with whether a quantifier repeats each."""
    found, index = [], 0
    while index < len(text):
        end = atom_end(text, index)
        quantifier = _QUANTIFIER.match(text, end)
        found.append((text[index:end], repeats(quantifier)))
        index = quantifier.end() if quantifier else end
    return found


def repeats(quantifier: re.Match[str] | None) -> bool:
    if quantifier is None:
        return False
    symbol, low, comma, high = quantifier.groups()
    if symbol is not None:
        return symbol != "?"
    if not comma:
        return int(low) > 1
    return not high or int(high) > 1


def atom_end(text: str, index: int) -> int:
    """Where the atom starting at ``index`` ends: an escape, a class, a group."""
    char = text[index]
    if char == "\\":
        return index + 2
    if char == "[":
        return class_end(text, index)
    if char == "(":
        return group_end(text, index)
    return index + 1


def class_end(text: str, index: int) -> int:
    cursor = index + 1
    if text[cursor:cursor + 1] == "^":
        cursor += 1
    if text[cursor:cursor + 1] == "]":
        cursor += 1
    while cursor < len(text) and text[cursor] != "]":
        cursor += 2 if text[cursor] == "\\" else 1
    return min(cursor + 1, len(text))


def group_end(text: str, index: int) -> int:
    depth, cursor = 0, index
    while cursor < len(text):
        char = text[cursor]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return cursor + 1
        cursor = atom_end(text, cursor) if char in "\\[" else cursor + 1
    return len(text)
