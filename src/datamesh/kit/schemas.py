"""Pydantic bases: strict input (unknown fields refused), ORM-friendly output."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address like name@example.com")
    return value


# Self-hosted installs use internal domains (.local, .corp, .test), which strict email
# validators refuse; a sign-in address only needs to be one plausible mailbox.
Email = Annotated[str, AfterValidator(_email)]
