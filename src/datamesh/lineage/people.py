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
        self.users: dict[int, str] = {}
        """Each user's group -> id text (after ``keep_told``)."""

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
            add = np.array(more, dtype=np.int64)
            self.pos = np.concatenate([self.pos, add[:, 0]])
            self.group = np.concatenate([self.group, add[:, 1]])
            self.kind = np.concatenate([self.kind, add[:, 2]])
            self.spell = np.concatenate([self.spell, add[:, 3]])

    def _is_user(self, groups: Any) -> Any:
        extra = np.fromiter(self._extra_users.values(), np.int64, len(self._extra_users))
        return (groups < self.users_n) | np.isin(groups, extra)

    def _user_text(self, groups: Any) -> list[str]:
        by_group = {g: u for u, g in self._extra_users.items()}
        known = groups < self.users_n
        texts = iter(self.ix.user_texts(groups[known]))
        return [
            next(texts) if k else by_group[g]
            for g, k in zip(groups.tolist(), known.tolist(), strict=True)
        ]

    def user_texts(self) -> list[str]:
        """Every user among the entries (to ask how they are now)."""
        groups = np.unique(self.group)
        return self._user_text(groups[self._is_user(groups)])

    def keep_told(self, users: dict[str, tuple[str, str | None, bool]]) -> None:
        """Drop the entries of users gone since the build and the follows of disabled users
        (``users``: name, e-mail and disabled of those that exist, by id text)."""
        groups = np.unique(self.group)
        user_groups = groups[self._is_user(groups)]
        texts = self._user_text(user_groups)
        self.users = dict(zip(user_groups.tolist(), texts, strict=True))
        gone = np.array([t not in users for t in texts], dtype=bool)
        disabled = np.array([t in users and users[t][2] for t in texts], dtype=bool)
        at = np.searchsorted(user_groups, self.group)
        at = np.minimum(at, max(user_groups.size - 1, 0))
        is_user = user_groups.size > 0
        user = (user_groups[at] == self.group) if is_user else np.zeros(self.group.size, bool)
        drop = user & (gone[at] | (disabled[at] & (self.kind == 1))) if is_user else user
        keep = ~drop
        self.pos, self.group = self.pos[keep], self.group[keep]
        self.kind, self.spell = self.kind[keep], self.spell[keep]

    def owners_among(self, mask: Any) -> set[str]:
        """The users owning a dataset where ``mask`` holds, as id texts."""
        groups = np.unique(self.group[mask & (self.kind == 0)])
        return {self.users[g] for g in groups.tolist() if g in self.users}

    def grouped(self, mask: Any, shown: int) -> list[tuple[int, int, Any, Any, int]]:
        """Per person among the entries where ``mask`` holds: (group, how many reasons, the
        first ``shown`` reasons' positions and kinds, nearest first with an owner's before a
        follower's, and the spelling of the first)."""
        pos, group, kind, spell = (a[mask] for a in (self.pos, self.group, self.kind, self.spell))
        order = np.lexsort((kind, pos, group))
        pos, group, kind, spell = pos[order], group[order], kind[order], spell[order]
        if not group.size:
            return []
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        ends = np.r_[starts[1:], group.size]
        out = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            c = min(b, a + shown)
            out.append((int(group[a]), b - a, pos[a:c], kind[a:c], int(spell[a])))
        return out

    def spelling(self, spell: int) -> str:
        named = self.ix.named
        return named[spell][0] if spell < len(named) else self._extra_spellings[spell - len(named)]

    def key(self, group: int) -> str:
        """A named owner's key (the lowercased name)."""
        for k, g in self._extra_keys.items():
            if g == group:
                return k
        return self.ix.named_key_names[group - self.users_n]
