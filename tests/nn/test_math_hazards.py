r"""Math that GitHub renders as written: no page holds a known GitHub math hazard.

GitHub runs Markdown *before* MathJax sees the math, except inside a
```math fence and inside $`...`$ (both are code to Markdown, passed on
verbatim).  Plain $...$ and $$...$$ go through Markdown first, which eats
what it reads as its own syntax:

* ``\\`` becomes ``\`` (a row break disappears), ``\{`` becomes ``{`` (the
  brace vanishes from the formula), ``\,`` ``\;`` ``\!`` lose their
  backslash: any backslash before ASCII punctuation is a Markdown escape;
* ``_`` and ``*`` pair up with another one (in the same formula or the next)
  into italics or bold, tearing the formula apart;
* ``<`` can open an HTML tag;
* a ``$`` right after a letter or digit is not taken as the start of math,
  and a closing one right before a letter or digit not as its end;
* ``|`` on a table row ends the table cell, even inside a code span.

So the pages follow these rules, which this file checks for every Markdown
page of derivations/ (pages added later included) and the top-level
README*.md:

1. display math is a ```math fence, one equation (at most one ``\tag``) per
   fence, never ``$$``;
2. inline math that holds any of ``_ * < \\`` or a backslash before
   punctuation is written $`...`$; plain $...$ only for the harmless rest;
3. no ``\,`` thin space anywhere in math (the project's rule for all pages);
4. no ``$`` touching a letter or digit on its outer side; no ``|`` in math
   on a table row (write ``\lvert``, ``\rvert``, ``\Vert``); ``\tag`` only
   in a ```math fence (MathJax numbers display math only).

``test_each_hazard_is_caught`` feeds one small page per hazard to the
checker, so a checker that stopped seeing one fails.
"""

import re
import string
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(ROOT.glob("README*.md")) + sorted((ROOT / "derivations").rglob("*.md"))

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")
PUNCTUATION = set(string.punctuation)
RISKY_IN_DOLLAR_MATH = {"_": "underscore", "*": "star", "<": "angle-bracket"}


def hazards(text):
    """[(line, hazard name, what was found)] for one Markdown page."""
    found = []
    prose = []                                  # (line number, line) outside fenced code
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            prose.append((index + 1, lines[index]))
            index += 1
            continue
        fence, info, start = opening.group(1), opening.group(2), index + 1
        body = []
        index += 1
        while index < len(lines) and not (lines[index].strip().startswith(fence[0] * len(fence))
                                          and set(lines[index].strip()) == {fence[0]}):
            body.append(lines[index])
            index += 1
        if index == len(lines):
            found.append((start, "unclosed-fence", lines[start - 1]))
        index += 1
        prose.append((index, ""))               # the fence ends a paragraph
        if info == "math":
            found += _math_block_hazards(start, "\n".join(body))
    for paragraph in _paragraphs(prose):
        found += _inline_hazards(paragraph)
    return sorted(found)


def _math_block_hazards(line, tex):
    found = []
    if len(re.findall(r"\\tag\b", tex)) > 1:
        found.append((line, "two-equations-in-one-block", tex))
    if "\\," in tex:
        found.append((line, "thin-space", tex))
    if "$" in tex:
        found.append((line, "dollar-in-math-block", tex))
    return found


def _paragraphs(prose):
    """Runs of non-blank lines, each as [(line number, line)]; every table row is a paragraph of its own."""
    paragraph = []
    for number, line in prose:
        if line.lstrip().startswith("|"):
            if paragraph:
                yield paragraph
            paragraph = []
            yield [(number, line)]
        elif line.strip():
            paragraph.append((number, line))
        elif paragraph:
            yield paragraph
            paragraph = []
    if paragraph:
        yield paragraph


def _inline_hazards(paragraph):
    """Hazards of the inline math (and stray $$) in one paragraph or table row."""
    text = "\n".join(line for _, line in paragraph)
    first_line = paragraph[0][0]
    in_table = len(paragraph) == 1 and paragraph[0][1].lstrip().startswith("|")
    found = []

    def line_of(position):
        return first_line + text.count("\n", 0, position)

    position = 0
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text) and text[position + 1] in PUNCTUATION:
            position += 2                                   # an escaped character, e.g. \$
        elif text.startswith("$`", position):
            end = text.find("`$", position + 2)
            if end < 0:
                found.append((line_of(position), "unclosed-inline-math", text[position:position + 40]))
                break
            found += _inline_math_hazards(text, position, end + 2, text[position + 2:end], False, in_table, line_of)
            position = end + 2
        elif char == "`":
            run = len(text[position:]) - len(text[position:].lstrip("`"))
            end = text.find("`" * run, position + run)
            position = len(text) if end < 0 else end + run  # a code span: not math
        elif text.startswith("$$", position):
            end = text.find("$$", position + 2)
            stop = len(text) if end < 0 else end + 2
            tex = text[position + 2:stop - 2]
            found.append((line_of(position), "dollar-display", tex.strip()[:60]))
            if "\\\\" in tex:
                found.append((line_of(position), "row-break-in-dollar-math", tex.strip()[:60]))
            position = stop
        elif char == "$":
            end = position + 1
            while end < len(text) and not (text[end] == "$" and text[end - 1] != "\\"):
                end += 1
            if end == len(text):
                found.append((line_of(position), "unclosed-inline-math", text[position:position + 40]))
                break
            tex = text[position + 1:end]
            found += _inline_math_hazards(text, position, end + 1, tex, True, in_table, line_of)
            position = end + 1
        else:
            position += 1
    return found


def _inline_math_hazards(text, start, stop, tex, plain, in_table, line_of):
    """Hazards of one inline formula text[start:stop] whose TeX is tex; plain: $...$ rather than $`...`$."""
    line, found = line_of(start), []
    if start > 0 and text[start - 1].isalnum():
        found.append((line, "dollar-next-to-letter", text[max(0, start - 10):start + 10]))
    if stop < len(text) and text[stop].isalnum():
        found.append((line, "dollar-next-to-letter", text[max(0, stop - 10):stop + 10]))
    if "\\," in tex:
        found.append((line, "thin-space", tex))
    if re.search(r"\\tag\b", tex):
        found.append((line, "tag-outside-math-block", tex))
    if in_table and "|" in tex:
        found.append((line, "pipe-in-table-math", tex))
    if plain:
        if "\\\\" in tex:
            found.append((line, "row-break-in-dollar-math", tex))
        escapes = {match for match in re.findall(r"\\(.)", tex) if match in PUNCTUATION - {"\\", ","}}
        if escapes:
            found.append((line, "markdown-escape-in-dollar-math", tex))
        for char, name in RISKY_IN_DOLLAR_MATH.items():
            if char in tex:
                found.append((line, f"{name}-in-dollar-math", tex))
    return found


# -- every page ------------------------------------------------------------------

def test_the_scan_finds_the_pages():
    names = {page.name for page in PAGES}
    assert {"README.md", "backprop.md", "linear.md", "batchnorm.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_page_has_no_github_math_hazard(page):
    found = hazards(page.read_text(encoding="utf-8"))
    report = "\n".join(f"  line {line}: {name}: {what!r}" for line, name, what in found)
    assert not found, f"{page.relative_to(ROOT)} has math GitHub would garble (see this file's docstring):\n{report}"


# -- the checker sees each hazard ------------------------------------------------

SAFE_PAGE = """\
# A page

Inline $x$, $(N, D)$ and $`x_{ni} W_{ji}`$, $`\\lbrace 0, 1 \\rbrace`$, $`a \\lt b`$; code `a_b * c $5`.

```math
y = \\begin{cases} x & x \\gt 0 \\\\ 0 & x \\le 0 \\end{cases} \\tag{1}
```

| array | shape |
|---|---|
| $`x_n`$, $`\\lvert x \\rvert`$ | $(N,)$ |

```python
cost = "$$ a_b $ c_d $"
```
"""

HAZARDS = {
    "dollar-display": "Text.\n\n$$\ny = x W^\\top + b\n$$\n",
    "row-break-in-dollar-math": "$$\n\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}\n$$\n",
    "underscore-in-dollar-math": "The entry $x_n$ and the entry $y_m$.\n",
    "star-in-dollar-math": "The conjugate $a^*$ and $b^*$.\n",
    "angle-bracket-in-dollar-math": "When $a<b$ holds.\n",
    "thin-space": "```math\na\\,b \\tag{1}\n```\n",
    "dollar-next-to-letter": "the rate$`x`$ of change\n",
    "markdown-escape-in-dollar-math": "labels in $\\{0, 1\\}$\n",
    "pipe-in-table-math": "| a | b |\n|---|---|\n| $`|x|`$ | 1 |\n",
    "two-equations-in-one-block": "```math\na = b \\tag{1}\n```\n\n```math\nc = d \\tag{2} \\\\ e = f \\tag{3}\n```\n",
    "tag-outside-math-block": "inline $`a = b \\tag{1}`$ here\n",
    "unclosed-inline-math": "a price of $5 and nothing after\n",
    "unclosed-fence": "```math\na = b\n",
}


def test_a_page_without_hazards_passes():
    assert hazards(SAFE_PAGE) == []


@pytest.mark.parametrize("name", sorted(HAZARDS))
def test_each_hazard_is_caught(name):
    found = {hazard for _, hazard, _ in hazards(SAFE_PAGE + "\n" + HAZARDS[name])}
    assert name in found, f"the checker missed {name}: found {found}"


def test_hazards_are_located_by_line_and_seen_after_code_spans():
    page = "# T\n\nfine $x$\n\nthen $x_n$ and\n$y_m$ on the next line\n\nWith `amsgrad=True`, $v_t$ is.\n"
    assert [(line, name) for line, name, _ in hazards(page)] == [
        (5, "underscore-in-dollar-math"), (6, "underscore-in-dollar-math"), (8, "underscore-in-dollar-math"),
    ]
