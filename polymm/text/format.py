"""How every view writes money, prices, sizes and market names: one formatter for status, plan, markets and logs.

Money is USDC to the cent (`-$1.10`, never `$-1.1000` or a 28-digit Decimal); in JSON it is a string
with two decimals (`"-1.10"`), exact and unambiguous, which a machine reads with Decimal(). Prices
are written at their market's tick (`0.90` beside `0.70` on a 0.01 tick, `0.905` on a 0.001 tick).
Sizes are shares with two decimals, the venue's size precision (polymarket-client
_internal/actions/orders/context.py `_ROUNDING_BY_TICK`: size 2 decimals for every tick size).

Text from the venue (questions, outcomes, its error messages) is data, never formatting: `visible`
shows its control characters as escapes (an ANSI/OSC sequence cannot reach the terminal, a newline
cannot forge a log line), and make_console's Console reads no markup (`[/]` cannot crash a table,
`[link=…]` is no link, "… [again]?" shows whole) and passes every string through `visible`.
"""

from __future__ import annotations

import os
import re
import sys
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from rich.console import Console
from rich.text import Text

CENT = Decimal("0.01")
DEFAULT_TICK = Decimal("0.01")
NON_TTY_WIDTH = 240  # the journal and pipes: long lines stay whole instead of wrapping at 80 columns


def _dec(value: Decimal | float | int | str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def cents(value: Decimal | float | int | str) -> Decimal:
    """The value rounded to the cent (half up), with no negative zero."""
    rounded = _dec(value).quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else CENT * 0


def money(value: Decimal | float | int | str | None) -> str:
    """`$1,234.50`, `-$1.10`; `—` for an unknown amount."""
    if value is None:
        return "—"
    c = cents(value)
    return f"-${-c:,.2f}" if c < 0 else f"${c:,.2f}"


def money_json(value: Decimal | float | int | str | None) -> str | None:
    """Money for JSON: a string with exactly two decimals (`"-1.10"`), None when unknown."""
    return None if value is None else f"{cents(value):.2f}"


def tick_places(tick: Decimal | float | str | None) -> int:
    """Decimal places of a tick size: 0.01 → 2, 0.001 → 3 (0.01 when the tick is unknown)."""
    t = _dec(tick) if tick is not None else DEFAULT_TICK
    return max(0, -t.normalize().as_tuple().exponent)


def price(value: Decimal | float | str | None, tick: Decimal | float | str | None = None) -> str:
    """A price at its market's tick: `0.90` on a 0.01 tick, `0.905` on a 0.001 tick."""
    if value is None:
        return "—"
    places = tick_places(tick)
    return f"{_dec(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):.{places}f}"


def avg_price(value: Decimal | float | str | None, tick: Decimal | float | str | None = None) -> str:
    """An average price (cost basis, a band's midpoint) written as a price at the tick, with the sub-tick digits it
    has, at most two: `0.61` (not `0.6100`), `0.305`, `0.6125` on a 0.01 tick."""
    if value is None:
        return "—"
    places = tick_places(tick)
    exact = _dec(value).quantize(Decimal(1).scaleb(-(places + 2)), rounding=ROUND_HALF_UP)
    while places < tick_places(tick) + 2 and exact != exact.quantize(Decimal(1).scaleb(-places)):
        places += 1
    return f"{exact:.{places}f}"


def shares(value: Decimal | float | str | None) -> str:
    """A size in shares, two decimals (the venue's size precision)."""
    if value is None:
        return "—"
    return f"{_dec(value).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def percent(fraction: float | Decimal | None, places: int = 0) -> str:
    return "—" if fraction is None else f"{float(fraction):.{places}%}"


# C0 and C1 control characters, DEL, and the Unicode line separators and bidirectional overrides (which can
# make a terminal show text in another order than it is); tab and newline only in `one_line` text
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return {9: "\\t", 10: "\\n", 13: "\\r"}.get(code) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def visible(text: object, one_line: bool = True) -> str:
    """Text safe to print: control characters shown as escapes (`\\x1b`, `\\n`); with one_line=False newlines
    and tabs are kept (text polymm wrote itself, laid out on several lines)."""
    return (_CONTROL_ONE_LINE if one_line else _CONTROL).sub(_escape, str(text))


def market_label(question: str | None, outcome: str | None = None, condition_id: str = "") -> str:
    """`Will X happen? — Yes`; the condition id's start only when the question is not known."""
    name = visible(question) if question else (f"market {condition_id[:10]}…" if condition_id else "unknown market")
    return f"{name} — {visible(outcome)}" if outcome else name


def fill_text(fill, entry: dict | None = None) -> str:
    """One fill for the log: `BUY 12.00 'Will X? — Yes' @ 0.70 = $8.40 (maker, MATCHED)`. `entry` is the
    market's catalog entry (polymm/text/catalog.py) when known; else the token id's start stands in."""
    if entry:
        name = f"'{market_label(entry.get('question'), entry.get('outcomes', {}).get(fill.token_id))}'"
        tick = entry.get("tick_size")
    else:
        name, tick = f"token {fill.token_id[:10]}…", None
    fee = getattr(fill, "fee", 0) or 0
    return (f"{fill.side} {shares(fill.size)} {name} @ {price(fill.price, tick)} = {money(fill.size * fill.price)}"
            f"{f', fee {money(fee)}' if fee else ''} ({fill.liquidity}, {fill.status})")


class PlainTextConsole(Console):
    """A Console whose strings are text: no markup, no :emoji: codes, control characters (newlines too) shown as
    escapes. Colour comes only from styles polymm sets (Text(..., style=...), a table's column style); a text
    of several lines is a Text or one string per line."""

    def __init__(self, **options) -> None:
        super().__init__(markup=False, emoji=False, **options)

    def render_str(self, text: str, **options) -> Text:  # every str printed or put in a table passes here
        # one line: a newline in a question would show a line of its own inside a table or after a label
        return super().render_str(visible(text), **{**options, "markup": False, "emoji": False})


def make_console(stderr: bool = False) -> Console:
    """A PlainTextConsole that does not wrap at 80 columns when the output is not a terminal (journal, pipe):
    $COLUMNS if set, else NON_TTY_WIDTH."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return PlainTextConsole(stderr=stderr)
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else NON_TTY_WIDTH
    return PlainTextConsole(stderr=stderr, width=width, soft_wrap=False)
