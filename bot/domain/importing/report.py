"""The import report: what was added, changed, reactivated, missing or deactivated, the errors and warnings,
and the lines a secretary reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.importing.columns import ImportKind, Issue
from bot.domain.importing.messages import message


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry the import adds, changes or reports: 编号 (or 组织路径) and a name (or the unit's kind)."""

    key: str
    name: str
    row: int | None = None
    fields: tuple[str, ...] = ()  # the columns that change (or, for `kept`, that were not overwritten)


@dataclass(slots=True)
class ImportReport:
    kind: ImportKind
    source: str
    rows: int = 0
    dry_run: bool = False
    load_valid: bool = False
    prune: bool = False
    written: bool = False  # the transaction committed (never for a dry run or when errors blocked it)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    added: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    reactivated: list[Entry] = field(default_factory=list)
    unchanged: list[Entry] = field(default_factory=list)
    # Members' own chat preferences (Member.chat_preferences) that the file did not overwrite.
    kept: list[Entry] = field(default_factory=list)
    missing: list[Entry] = field(default_factory=list)  # active in the database, not in the file
    deactivated: list[Entry] = field(default_factory=list)  # with prune: deactivated (or would be, dry run)
    unbound: int = 0  # WeChat bindings removed with the deactivated
    skipped_rows: list[int] = field(default_factory=list)  # rows with errors, not loaded

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def blocked(self) -> bool:
        """Errors stopped the import: nothing was (or, in a dry run, would be) written."""
        return bool(self.errors) and not self.load_valid

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.updated) + len(self.reactivated) + len(self.deactivated)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "reactivated": len(self.reactivated),
            "deactivated": len(self.deactivated),
            "unchanged": len(self.unchanged),
            "missing": len(self.missing),
            "skipped": len(self.skipped_rows),
        }

    def summary(self) -> str:
        """The last line: what happened, in one sentence."""
        if self.blocked:
            key = "report.blocked_dry_run" if self.dry_run else "report.blocked"
            return message(key, count=len(self.errors))
        if self.dry_run:
            return message("report.dry_run", **self.counts())
        if not self.changes and not self.skipped_rows:
            return message("report.no_change", unchanged=len(self.unchanged))
        line = message("report.done", **self.counts())
        if self.skipped_rows:
            line = message("report.done_partial", skipped=len(self.skipped_rows)) + line
        return line

    def lines(self, *, list_added: int = 50) -> list[str]:
        """The whole report as a secretary reads it: warnings, errors, the changes, and the summary."""
        title = "report.title_dry_run" if self.dry_run else "report.title"
        out = [message(title, kind=message(f"kinds.{self.kind}"), file=self.source, rows=self.rows)]
        if self.warnings:
            out.append(message("report.warnings", count=len(self.warnings)))
            out += [f"  {issue}" for issue in self.warnings]
        if self.errors:
            out.append(message("report.errors", count=len(self.errors)))
            out += [f"  {issue}" for issue in self.errors]
        if not self.blocked or self.dry_run:
            if self.added and (self.dry_run or len(self.added) <= list_added):
                out.append(message("report.added", count=len(self.added)))
                out += [_entry_line(e) for e in self.added]
            for key, entries in (
                ("report.updated", self.updated),
                ("report.reactivated", self.reactivated),
                ("report.kept", self.kept),
            ):
                if entries:
                    out.append(message(key, count=len(entries)))
                    out += [_entry_line(e) for e in entries]
            if self.prune and self.deactivated:
                key = "report.deactivated_dry_run" if self.dry_run else "report.deactivated"
                out.append(message(key, count=len(self.deactivated)))
                out += [_entry_line(e) for e in self.deactivated]
                if self.unbound:
                    out.append(message("report.unbound", count=self.unbound))
            elif self.missing:
                out.append(message("report.missing", count=len(self.missing)))
                out += [_entry_line(e) for e in self.missing]
                out.append(message("report.missing_hint"))
        out.append(self.summary())
        return out


def _entry_line(entry: Entry) -> str:
    if entry.fields:
        fields = message("report.field_separator").join(entry.fields)
        return message("report.entry_fields", key=entry.key, name=entry.name, fields=fields)
    return message("report.entry", key=entry.key, name=entry.name)
