"""Who to tell about a blast radius, from the lineage index's people arrays.

A hub's blast radius has tens of thousands of ownerships and follows. The index holds them per
dataset (``LineageIndex.people``); this groups them by person in numpy, one entry per reason,
with the rule ``repository.people_of`` applies in PostgreSQL for the other engines: a user once
(a disabled one told only as an owner, a deleted one not at all), an owner named by an ownership
facet once per lowercased name (spelled as on the nearest dataset), reasons nearest first and an
owner's before a follower's on the same dataset. No SQL here: the service asks PostgreSQL what
the index cannot know (datasets changed since the build, users as they are now, names).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from datamesh.lineage.index import LineageIndex


class PeopleEntries:
    """One entry per reason, as aligned arrays: the position of the dataset in the blast
    radius' order (``pos``), the person (``group``: a user, or a named owner's key), the kind
    (0 owns, 1 follows) and, for a named owner, how it is spelled there (``spell``)."""

    def __init__(self, ix: LineageIndex, pos: Any, person: Any, kind: Any) -> None:
        self.ix = ix
        self.users_n = users_n = int(ix.users.size)
        self.keys_n = len(ix.named_keys)
        named = person >= users_n
        group = person.copy()
        group[named] = users_n + ix.named_key[person[named] - users_n]
        self.pos, self.group, self.kind = pos, group, kind
        self.spell = np.where(named, person - users_n, -1)
        # People of datasets changed since the build that the index has no number for.
        self._extra_users: dict[str, int] = {}
        self._extra_keys: dict[str, int] = {}
        self._extra_spellings: list[str] = []
        self._in_order = True
        self.user_groups = np.zeros(0, dtype=np.int64)
        self.user_order: dict[int, int] = {}
        """Each user's group -> its place in ``user_ids`` (after ``keep_told``)."""

    def _new_group(self) -> int:
        return self.users_n + self.keys_n + len(self._extra_users) + len(self._extra_keys)

    def add_rows(
        self,
        where: dict[str, int],
        user_rows: list[tuple[str, str, int]],
        named_rows: list[tuple[str, str, str]],
    ) -> None:
        """Add PostgreSQL's rows for datasets the index does not know the people of
        (``repository.people_rows``); ``where``: each such dataset's position."""
        more: list[tuple[int, int, int, int]] = []
        for ds, user, k in user_rows:
            g = self.ix.user_number(user)
            if g is None:
                g = self._extra_users.get(user)
                if g is None:
                    g = self._extra_users[user] = self._new_group()
            more.append((where[ds], g, k, -1))
        for ds, who, key in named_rows:
            no = self.ix.named_keys.get(key)
            if no is not None:
                g = self.users_n + no
            else:
                g = self._extra_keys.get(key, -1)
                if g < 0:
                    g = self._extra_keys[key] = self._new_group()
            self._extra_spellings.append(who)
            more.append((where[ds], g, 0, len(self.ix.named) + len(self._extra_spellings) - 1))
        if more:
            self._in_order = False
            add = np.array(more, dtype=np.int64)
            self.pos = np.concatenate([self.pos, add[:, 0]])
            self.group = np.concatenate([self.group, add[:, 1]])
            self.kind = np.concatenate([self.kind, add[:, 2]])
            self.spell = np.concatenate([self.spell, add[:, 3]])

    def _groups(self) -> Any:
        """Every group among the entries, ascending (a count per group number, not a sort)."""
        if not self.group.size:
            return self.group
        return np.flatnonzero(np.bincount(self.group, minlength=self._new_group()))

    def _is_user(self, groups: Any) -> Any:
        extra = np.fromiter(self._extra_users.values(), np.int64, len(self._extra_users))
        return (groups < self.users_n) | np.isin(groups, extra)

    def user_ids(self) -> bytes:
        """Every user among the entries, as 16-byte ids one after the other (to ask how they
        are now); ``keep_told`` takes the answers in this order."""
        groups = self._groups()
        self.user_groups = groups = groups[self._is_user(groups)]
        known = groups < self.users_n
        raw: bytes = self.ix.users[groups[known]].tobytes()
        extra = self.user_texts(groups[~known])
        return raw + b"".join(uuid.UUID(u).bytes for u in extra)

    def keep_told(self, exists: list[bool], disabled: list[bool]) -> None:
        """Drop the entries of users gone since the build and the follows of disabled users
        (``exists`` and ``disabled``: for each user of ``user_ids``, in its order)."""
        size = self._new_group()
        gone_at = np.zeros(size, dtype=bool)
        disabled_at = np.zeros(size, dtype=bool)
        gone_at[self.user_groups] = ~np.array(exists, dtype=bool)
        disabled_at[self.user_groups] = np.array(disabled, dtype=bool)
        self.user_order = {g: i for i, g in enumerate(self.user_groups.tolist())}
        if not (gone_at.any() or disabled_at.any()):
            return
        keep = ~(gone_at[self.group] | (disabled_at[self.group] & (self.kind == 1)))
        self.pos, self.group = self.pos[keep], self.group[keep]
        self.kind, self.spell = self.kind[keep], self.spell[keep]

    def user_texts(self, groups: Any) -> list[str]:
        """The id text of each of these users' groups."""
        by_group = {g: u for u, g in self._extra_users.items()}
        known = groups < self.users_n
        texts = iter(self.ix.user_texts(groups[known]))
        return [
            next(texts) if k else by_group[g]
            for g, k in zip(groups.tolist(), known.tolist(), strict=True)
        ]

    def owners_among(self, mask: Any) -> set[str]:
        """The users owning a dataset where ``mask`` holds, as id texts."""
        groups = np.unique(self.group[mask & (self.kind == 0)])
        return set(self.user_texts(groups[self._is_user(groups)]))

    def grouped(self, mask: Any, shown: int) -> tuple[Any, Any, Any, Any, Any, Any]:
        """Per person among the entries where ``mask`` holds, as arrays: their groups, how
        many reasons each has, the spelling of each one's first reason; and the first
        ``shown`` reasons of all of them (nearest first, an owner's before a follower's on the
        same dataset) as positions and kinds, the person's at ``offsets[i]:offsets[i + 1]``."""
        pos, group, kind, spell = (a[mask] for a in (self.pos, self.group, self.kind, self.spell))
        # The index gives its entries nearest first, an owner's before a follower's: a stable
        # sort by person keeps that; rows added for changed datasets need the full order.
        if self._in_order:
            # Fewer than 65,536 people (the usual case): numpy's radix sort, linear.
            small = self._new_group() <= 1 << 16
            order = np.argsort(group.astype(np.uint16) if small else group, kind="stable")
        else:
            order = np.lexsort((kind, pos, group))
        pos, group, kind, spell = pos[order], group[order], kind[order], spell[order]
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if group.size else pos[:0]
        totals = np.diff(np.r_[starts, group.size])
        # Rank of each entry within its person's: keep the first ``shown``.
        rank = np.arange(group.size) - np.repeat(starts, totals)
        first = rank < shown
        offsets = np.r_[0, np.cumsum(np.minimum(totals, shown))]
        return group[starts], totals, spell[starts], pos[first], kind[first], offsets

    def spelling(self, spell: int) -> str:
        named = self.ix.named
        return named[spell][0] if spell < len(named) else self._extra_spellings[spell - len(named)]

    def key(self, group: int) -> str:
        """A named owner's key (the lowercased name)."""
        for k, g in self._extra_keys.items():
            if g == group:
                return k
        return self.ix.named_key_names[group - self.users_n]
