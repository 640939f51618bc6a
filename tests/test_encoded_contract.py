"""The check behind ``kit.schemas.encoded``: an answer outside its model fails the test."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import _check_encoded


def _answer(body: bytes, status: int = 200) -> httpx.Response:
    request = httpx.Request("GET", "http://testserver/api/lineage/impact")
    return httpx.Response(status, content=body, request=request)


GOOD = (
    b'{"node":{"id":"a","kind":"dataset","name":"n","namespace":"ns","depth":0,"health":null,'
    b'"restricted":false,"platform":null,"visibility":"public","more_upstream":0,'
    b'"more_downstream":0},"depth":20,"items":[],"next_cursor":null,"totals":{"datasets":0,'
    b'"processes":0,"restricted":0,"people":0,"hidden_owners":0},"by_distance":[],'
    b'"by_platform":[],"notify":[],"truncated":false,"exact":true}'
)


async def test_an_answer_in_its_model_passes() -> None:
    await _check_encoded(_answer(GOOD))


@pytest.mark.parametrize(
    "body",
    [
        GOOD.replace(b',"exact":true', b""),  # a field missing (the model has a default)
        GOOD.replace(b'"exact":true', b'"exact":true,"real_id":"x"'),  # one too many
        GOOD.replace(b'"depth":20', b'"depth":"20"'),  # a type the model would change
    ],
)
async def test_an_answer_outside_its_model_fails(body: bytes) -> None:
    with pytest.raises(AssertionError, match="outside its model Impact"):
        await _check_encoded(_answer(body))


async def test_errors_are_not_checked_against_the_model() -> None:
    await _check_encoded(_answer(b'{"title":"Not found"}', status=404))
