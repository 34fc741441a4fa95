"""corosync.conf(5) syntax: text into a tree of sections and ``option: value`` items.

The file format is line-based, as Corosync's own reader (coroparse) treats it:

- a line whose first non-blank character is ``#`` is a comment, and so is a blank line;
  a ``#`` later in a line is *not* a comment (``token: 3000 # ms`` has the value
  ``3000 # ms``, which then fails as an integer);
- ``name {`` opens a section (a ``:`` before the brace is tolerated, ``totem: {``);
  nothing may follow the brace on the same line;
- ``option: value`` sets an option; the option name ends at the first ``:``, so values
  may contain colons (IPv6 addresses); the value may be empty;
- a line holding only ``}`` closes the innermost open section;
- blanks are spaces, tabs and no-break spaces (U+00A0); a trailing CR is dropped.

Anything else is refused with a :class:`ConfigError` that names the file, the line
and, where there is one, the option (as a dotted path such as ``totem.token``).
This module knows no option names; :mod:`ha.runtime.corosync_conf` gives the tree
its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ConfigError", "Item", "Section", "merge", "parse_sections"]

BLANKS = " \t\u00a0"


class ConfigError(ValueError):
    """A corosync.conf that hastack refuses.

    ``line`` is the 1-based line the problem is on (None when it concerns the file as a
    whole, e.g. a missing nodelist); ``option`` the dotted option or section path
    (``totem.token``, ``nodelist.node.nodeid``) or None. ``str()`` reads
    ``corosync.conf:14: totem.token: expected a positive integer (milliseconds), got 'abc'``.
    """

    def __init__(self, message: str, *, filename: str = "corosync.conf",
                 line: int | None = None, option: str | None = None) -> None:
        self.message = message
        self.filename = filename
        self.line = line
        self.option = option
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.filename if self.line is None else f"{self.filename}:{self.line}"
        parts = [where] + ([self.option] if self.option else []) + [self.message]
        return ": ".join(parts)

    def __str__(self) -> str:
        return self._render()


@dataclass(frozen=True)
class Item:
    """One ``option: value`` line; ``path`` is the dotted name, e.g. ``totem.interface.mcastport``."""

    key: str
    value: str
    line: int
    path: str
    filename: str

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, filename=self.filename, line=self.line, option=self.path)

    def where(self) -> str:
        """``file:line: option`` — the prefix of a warning about this item."""
        return f"{self.filename}:{self.line}: {self.path}"


@dataclass
class Section:
    """A ``name { ... }`` block: its items and subsections, each in file order."""

    name: str
    path: str
    line: int
    filename: str
    items: list[Item] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, filename=self.filename, line=self.line or None,
                           option=self.path or None)

    def where(self) -> str:
        return f"{self.filename}:{self.line}: {self.path}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def parse_sections(text: str, filename: str = "corosync.conf") -> Section:
    """Split corosync.conf text into its section tree; the root has name and path ''."""
    root = Section("", "", 0, filename)
    stack = [root]
    # split("\n"), not splitlines(): form feeds or U+2028 must not shift line numbers.
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r").strip(BLANKS)
        if not line or line.startswith("#"):
            continue
        current = stack[-1]
        if "{" in line:
            head, _, tail = line.partition("{")
            name = head.strip(BLANKS).rstrip(BLANKS + ":")
            path = _join(current.path, name or "?")
            if not name:
                raise ConfigError("missing section name before '{'", filename=filename,
                                  line=lineno, option=current.path or None)
            if any(c in name for c in BLANKS + ":{}"):
                raise ConfigError(f"expected a section name before '{{', got {head.strip(BLANKS)!r}",
                                  filename=filename, line=lineno, option=current.path or None)
            if tail.strip(BLANKS):
                raise ConfigError(
                    f"nothing may follow '{{' on the same line (one option per line), "
                    f"got {tail.strip(BLANKS)!r}", filename=filename, line=lineno, option=path)
            section = Section(name, path, lineno, filename)
            current.sections.append(section)
            stack.append(section)
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip(BLANKS)
            if not key:
                raise ConfigError(f"missing option name before ':' in {line!r}", filename=filename,
                                  line=lineno, option=current.path or None)
            current.items.append(Item(key, value.strip(BLANKS), lineno, _join(current.path, key),
                                      filename))
        elif "}" in line:
            if line != "}":
                raise ConfigError(f"'}}' must stand alone on its line, got {line!r}",
                                  filename=filename, line=lineno, option=current.path or None)
            if len(stack) == 1:
                raise ConfigError("'}' closes no open section (unbalanced braces)",
                                  filename=filename, line=lineno)
            stack.pop()
        else:
            word = line.split()[0]
            raise ConfigError(
                f"missing ':' (expected 'option: value', 'section {{' or '}}'), got {line!r}",
                filename=filename, line=lineno, option=_join(current.path, word))
    if len(stack) > 1:
        unclosed = stack[-1]
        last = text.count("\n") + 1
        raise ConfigError(f"missing '}}': the section opened here is still open at the end of "
                          f"the file (line {last})", filename=filename, line=unclosed.line,
                          option=unclosed.path)
    return root


def merge(sections: list[Section], warnings: list[str]) -> tuple[dict[str, Item], list[Section]]:
    """The items of same-named sections (``totem { }`` given twice) and their subsections.

    As in Corosync, a repeated option replaces the earlier value; hastack also warns.
    """
    items: dict[str, Item] = {}
    subsections: list[Section] = []
    for section in sections:
        for item in section.items:
            if (earlier := items.get(item.key)) is not None:
                warnings.append(f"{item.where()}: given again (first at line {earlier.line}); "
                                f"this later value is used")
            items[item.key] = item
        subsections.extend(section.sections)
    return items, subsections
