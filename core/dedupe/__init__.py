"""Acting on duplicate groups: keep one file by rules, act on the others.

- keeper.py: the keeper rules (resolution, size, oldest, newest,
  shortest-path, folder:DIR, pattern:GLOB), pure.
- plan.py: the groups, their files as imported, the keeper and why, and the
  planned op of every other file (reads only).
- fileops.py: the ops on files (trash, move, links), each checked just
  before, done whole or not at all, reversible; the pending log and recovery.

The command (core/commands/dedupe.py) ties them to the journal. Order of
work, so that a kill at any instant loses no file and the journal never
claims what did not happen: the plan is made outside the transaction; then,
with the project open for writing, a pending log of the ops is written beside
the project, the ops are done one by one (each re-checked against its import
record just before), and the journal entry, listing what was done, commits;
after the commit the log is removed. Killed before the commit, the next
command that changes the project, undo or redo (or the settle step of this
one, on an error) finds the log, sees no journal entry in effect, and puts the
files that had been acted on back. Killed after it, the same step sees the
entry and only removes the log.

The project's records are left as they were imported: a trashed, moved or
linked-over file keeps its file row (and its image its tags, vectors and
clusters), so undo needs nothing of the project, and `planche import --prune`
of the folder forgets files that are gone for good. A later dedupe lists such
files as gone and leaves them alone.
"""

from __future__ import annotations

from planche.core.dedupe.keeper import DEFAULT_RULES, Candidate, Rule, choose_keeper, parse_rules
from planche.core.dedupe.plan import Plan, make_plan, parse_action

__all__ = [
    "DEFAULT_RULES",
    "Candidate",
    "Plan",
    "Rule",
    "choose_keeper",
    "make_plan",
    "parse_action",
    "parse_rules",
]
