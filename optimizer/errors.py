"""Domain errors.

Every problem found in user input is collected as a :class:`Problem` (file, row, column,
message); validation collects all of them and raises one :class:`InputError`, whose string
form is one line per problem, ready to print without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in the input.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file
        The file (or scenario key) the problem is in, if any.
    row
        1-based data row (the header is not counted), if the problem is in a row.
    column
        The column or field name, if any.
    """

    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class LifecircleError(Exception):
    """Base class of lifecircle's errors."""


class InputError(LifecircleError, ValueError):
    """Bad input: one or more :class:`Problem`, reported together."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid input")


class TooLargeError(InputError):
    """The model would not fit in this machine's memory (:mod:`optimizer.memory`); raised
    before it is built, naming its size and the memory available."""


class InfeasibleError(LifecircleError):
    """The constraints cannot all hold; the message says which ones bind."""


class ProblemCollector:
    """Collect problems during validation, then raise them at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.problems.append(Problem(message, file=file, row=row, column=column))

    def add_rows(
        self,
        rows: Iterable[int],
        message: Callable[[int], str],
        *,
        file: str | None = None,
        column: str | None = None,
        more: str,
        limit: int = 5,
    ) -> None:
        """One problem per 0-based row (reported 1-based), at most ``limit``, then one line
        ``... and N more {more}``."""
        rows = list(rows)
        for row in rows[:limit]:
            self.add(message(row), file=file, row=int(row) + 1, column=column)
        if len(rows) > limit:
            self.add(f"... and {len(rows) - limit} more {more}", file=file, column=column)

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems)
