"""The in-memory index that serves reads, lists and filters.

It is a pure data structure: the store feeds it loaded files (its own writes, the initial
scan, the watcher) and it never touches the disk, so it is easy to reason about and test.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from echo_orchestrator.lifecycle import workflows as workflow_lifecycle
from echo_orchestrator.models import Agent, McpSettings, Workflow
from echo_orchestrator.models.triggers import Schedule, WebhookTrigger
from echo_orchestrator.models.versions import version_key
from echo_orchestrator.store.definitions.base import Problem, WorkflowQuery, WorkflowSummary
from echo_orchestrator.store.definitions.layout import Location
from echo_orchestrator.store.definitions.loader import Loaded, Signature


@dataclass(slots=True)
class Row:
    """An entry's catalogue facts, flattened once so a filter over 10,000 rows stays cheap."""

    key: tuple[str, str]  # sort key: (slug, workflow_id)
    summary: WorkflowSummary
    haystack: str
    tags: frozenset[str]
    category: str
    status: str

    def matches(self, query: WorkflowQuery, tags: frozenset[str], search: str | None) -> bool:
        if query.status is None:
            if self.status == "archived" and not query.include_archived:
                return False
        elif not workflow_lifecycle.status_matches(self.status, query.status):
            return False
        if query.category is not None and self.category != query.category:
            return False
        if tags and not tags <= self.tags:
            return False
        return search is None or search in self.haystack


@dataclass(slots=True)
class WorkflowEntry:
    workflow_id: str
    draft: Workflow | None = None
    temp: Workflow | None = None
    finals: dict[str, Workflow] = field(default_factory=dict)
    row: Row | None = None  # None while the entry changes; rebuilt by the index

    @property
    def empty(self) -> bool:
        return self.draft is None and self.temp is None and not self.finals

    def runnable(self) -> Workflow | None:
        return workflow_lifecycle.runnable(self.finals, self.temp)

    def head(self) -> Workflow:
        """What a catalogue shows: the runnable definition, else the draft."""
        shown = self.runnable() or self.draft
        assert shown is not None, "an empty entry is removed from the index"
        return shown

    def catalogue_status(self) -> str:
        return workflow_lifecycle.catalogue_status(self.draft, self.temp, bool(self.finals))

    def summary(self) -> WorkflowSummary:
        return self.build_row().summary

    def build_row(self) -> Row:
        if self.row is not None:
            return self.row
        head = self.head()
        stamps = [w.metadata for w in (self.draft, self.temp, *self.finals.values()) if w is not None]
        created = [str(m["created_at"]) for m in stamps if m.get("created_at")]
        updated = [str(m.get("updated_at") or m["created_at"]) for m in stamps if m.get("updated_at") or m.get("created_at")]
        summary = WorkflowSummary(
            workflow_id=self.workflow_id,
            slug=head.key,
            name=head.name,
            description=head.description,
            category=head.category,
            tags=list(head.tags),
            version=head.version,
            status=self.catalogue_status(),
            graph_name=head.graph_name,
            execution_model=head.execution_model,
            created_at=min(created) if created else None,
            updated_at=max(updated) if updated else None,
            versions=sorted(self.finals, key=version_key),
            has_draft=self.draft is not None,
            has_temp=self.temp is not None,
        )
        self.row = Row(
            key=(summary.slug, self.workflow_id),
            summary=summary,
            haystack="\n".join((head.key, head.name, head.description)).lower(),
            tags=frozenset(head.tags),
            category=head.category,
            status=summary.status,
        )
        return self.row


@dataclass(slots=True)
class DefinitionIndex:
    agents: dict[str, Agent] = field(default_factory=dict)
    workflows: dict[str, WorkflowEntry] = field(default_factory=dict)
    mcp_settings: McpSettings | None = None
    schedules: dict[str, Schedule] = field(default_factory=dict)
    problems: dict[Path, Problem] = field(default_factory=dict)
    signatures: dict[Path, Signature] = field(default_factory=dict)
    # What each path currently contributes, so a deleted or renamed file can be undone.
    locations: dict[Path, Location] = field(default_factory=dict)
    # Counts changes: whoever shows a view of the definitions can tell it may be stale.
    revision: int = 0
    # Who claims each slug, in the order they claimed it: the first holds it, later claimants
    # (an external edit, a git pull) are reported as the problem and resolve nothing.
    _claims: dict[str, dict[str, int]] = field(default_factory=dict)
    _slug_of: dict[str, str] = field(default_factory=dict)
    _claim_seq: int = 0
    # The catalogue in (slug, id) order, kept sorted on every change (no re-sort per query).
    _keys: list[tuple[str, str]] = field(default_factory=list)
    _rows: list[Row] = field(default_factory=list)
    # Webhook trigger id -> the workflows whose runnable definition declares it, built again
    # when asked after a change (hooks are few; a change may be any workflow's).
    _triggers: tuple[int, dict[str, list[tuple[str, WebhookTrigger]]]] = (-1, {})

    # -- feeding -----------------------------------------------------------------------

    def is_current(self, path: Path, signature: Signature | None) -> bool:
        return signature is not None and self.signatures.get(path) == signature

    def apply(self, loaded: Loaded) -> None:
        """Make the index reflect `loaded.path` as it is now on disk."""
        self.revision += 1
        self._forget(loaded.path)
        if loaded.signature is None:
            return
        self.signatures[loaded.path] = loaded.signature
        if loaded.problem is not None:
            self.problems[loaded.path] = loaded.problem
            return
        assert loaded.location is not None and loaded.entity is not None
        self.locations[loaded.path] = loaded.location
        self._put(loaded.location, loaded.entity)

    def _put(self, location: Location, entity: Agent | Workflow | McpSettings | Schedule) -> None:
        if location.kind == "schedule":
            assert isinstance(entity, Schedule)
            self.schedules[location.entity_id] = entity
            return
        if location.kind == "agent":
            assert isinstance(entity, Agent)
            self.agents[location.entity_id] = entity
            return
        if location.kind == "mcp_settings":
            assert isinstance(entity, McpSettings)
            self.mcp_settings = entity
            return
        assert isinstance(entity, Workflow)
        entry = self.workflows.get(location.entity_id)
        if entry is None:
            entry = self.workflows[location.entity_id] = WorkflowEntry(location.entity_id)
        else:
            self._unlist(entry)
        if location.kind == "draft":
            entry.draft = entity
        elif location.kind == "temp":
            entry.temp = entity
        else:
            assert location.version is not None
            entry.finals[location.version] = entity
        self._touch(entry)

    def _forget(self, path: Path) -> None:
        self.problems.pop(path, None)
        self.signatures.pop(path, None)
        location = self.locations.pop(path, None)
        if location is None:
            return
        if location.kind == "agent":
            self.agents.pop(location.entity_id, None)
            return
        if location.kind == "schedule":
            self.schedules.pop(location.entity_id, None)
            return
        if location.kind == "mcp_settings":
            self.mcp_settings = None
            return
        entry = self.workflows.get(location.entity_id)
        if entry is None:
            return
        self._unlist(entry)
        if location.kind == "draft":
            entry.draft = None
        elif location.kind == "temp":
            entry.temp = None
        else:
            entry.finals.pop(location.version or "", None)
        if entry.empty:
            del self.workflows[location.entity_id]
            self._claim(location.entity_id, None)
        else:
            self._touch(entry)

    def _touch(self, entry: WorkflowEntry) -> None:
        """List a changed entry again: its slug and its place in the catalogue order."""
        entry.row = None
        row = entry.build_row()
        self._claim(entry.workflow_id, row.summary.slug)
        at = bisect.bisect_left(self._keys, row.key)
        self._keys.insert(at, row.key)
        self._rows.insert(at, row)

    def _unlist(self, entry: WorkflowEntry) -> None:
        row = entry.row
        if row is None:
            return
        at = bisect.bisect_left(self._keys, row.key)
        if at < len(self._keys) and self._keys[at] == row.key:
            del self._keys[at]
            del self._rows[at]
        entry.row = None

    # -- reading -----------------------------------------------------------------------

    def _claim(self, workflow_id: str, slug: str | None) -> None:
        """`workflow_id` now claims `slug` (None: nothing). A workflow keeps its place in a
        slug's queue while it keeps the slug; a new claim queues after every earlier one."""
        previous = self._slug_of.get(workflow_id)
        if previous == slug:
            return
        if previous is not None:
            claims = self._claims[previous]
            del claims[workflow_id]
            if not claims:
                del self._claims[previous]
            del self._slug_of[workflow_id]
        if slug is not None:
            self._claim_seq += 1
            self._claims.setdefault(slug, {})[workflow_id] = self._claim_seq
            self._slug_of[workflow_id] = slug

    def slug_holder(self, slug: str) -> str | None:
        claims = self._claims.get(slug)
        return min(claims, key=claims.__getitem__) if claims else None

    def resolve(self, ref: str) -> WorkflowEntry | None:
        """A workflow by id, else by slug (its holder: the workflow that claimed it first)."""
        if (entry := self.workflows.get(ref)) is not None:
            return entry
        holder = self.slug_holder(ref)
        return None if holder is None else self.workflows[holder]

    def slug_owners(self, slug: str) -> set[str]:
        return set(self._claims.get(slug, ()))

    def query(self, query: WorkflowQuery) -> tuple[list[WorkflowSummary], int]:
        tags = frozenset(query.tags)
        search = query.search.lower() if query.search else None
        hits = [r for r in self._rows if r.matches(query, tags, search)]
        return [r.summary for r in hits[query.offset : query.offset + query.limit]], len(hits)

    def slug_conflicts(self) -> dict[str, list[str]]:
        """Slugs several workflows claim: holder first, then the later claimants."""
        return {slug: sorted(claims, key=claims.__getitem__) for slug, claims in self._claims.items() if len(claims) > 1}

    def triggers(self) -> dict[str, list[tuple[str, WebhookTrigger]]]:
        """Each webhook trigger id and the (workflow id, trigger) declaring it, in the
        workflows' id order: the first holds it, others are reported (`all_problems`)."""
        built_at, found = self._triggers
        if built_at == self.revision:
            return found
        found = {}
        for workflow_id in sorted(self.workflows):
            runnable = self.workflows[workflow_id].runnable()
            for trigger in runnable.triggers if runnable is not None else ():
                found.setdefault(trigger.id, []).append((workflow_id, trigger))
        self._triggers = (self.revision, found)
        return found
