"""/api/alerts: alert rules, their test, delivery log and redelivery."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, status

from datamesh.alerts import service
from datamesh.alerts.schemas import (
    AlertRule,
    AlertRuleCreate,
    AlertRulePage,
    AlertRuleUpdate,
    AlertTestResult,
    Delivery,
    DeliveryPage,
)
from datamesh.auth.deps import CurrentUser
from datamesh.deps import SessionDep
from datamesh.kit.pagination import DEFAULT_LIMIT, CursorParam, Limit

router = APIRouter(prefix="/api/alerts", tags=["alerts"])

EXAMPLES: dict[str, Any] = {
    "webhook": {
        "value": {
            "name": "Tell me whatever breaks my table",
            "events": ["process.run_failed", "dataset.sla_breached", "dataset.schema_changed"],
            "scope": {"affects": {"node": "dataset:postgres://db:5432:shop.orders", "depth": 5}},
            "channel": {
                "kind": "webhook",
                "url": "https://hooks.example.com/datamesh",
                "secret": "env:ALERT_HOOK_SECRET",
            },
        }
    },
    "slack": {
        "value": {
            "name": "Team channel",
            "events": ["process.run_failed"],
            "scope": {"tags": ["finance"]},
            "channel": {"kind": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXX"},
        }
    },
    "email": {
        "value": {
            "name": "Mail me",
            "events": ["dataset.deprecated"],
            "scope": {"followed_by_me": True},
            "channel": {"kind": "email", "to": ["me@example.com"]},
        }
    },
}


def _ctx(request: Request) -> service.Context:
    ctx: service.Context = request.app.state.alerts
    return ctx


@router.post("", response_model=AlertRule, status_code=status.HTTP_201_CREATED)
async def create_rule(
    data: Annotated[AlertRuleCreate, Body(openapi_examples=EXAMPLES)],
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
) -> AlertRule:
    """Create an alert rule: yours, or (org admins and stewards) your org's."""
    rule = await service.create_rule(session, principal, data, _ctx(request).outbound)
    return AlertRule.model_validate(service.to_schema(rule))


@router.get("", response_model=AlertRulePage)
async def list_rules(
    principal: CurrentUser,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> AlertRulePage:
    """Your alert rules, and your org's if you are an admin or steward; newest first."""
    rows, next_cursor = await service.list_rules(session, principal, limit, cursor)
    return AlertRulePage(
        items=[AlertRule.model_validate(service.to_schema(r)) for r in rows],
        next_cursor=next_cursor,
    )


@router.get("/{alert_id}", response_model=AlertRule)
async def get_rule(alert_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> AlertRule:
    """One alert rule."""
    rule = await service.get_rule(session, principal, alert_id)
    return AlertRule.model_validate(service.to_schema(rule))


@router.patch("/{alert_id}", response_model=AlertRule)
async def update_rule(
    alert_id: uuid.UUID,
    data: AlertRuleUpdate,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
) -> AlertRule:
    """Change an alert rule (turning it on again clears why it was turned off)."""
    rule = await service.update_rule(session, principal, alert_id, data, _ctx(request).outbound)
    return AlertRule.model_validate(service.to_schema(rule))


@router.delete("/{alert_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(alert_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> None:
    """Delete an alert rule and its delivery log."""
    await service.delete_rule(session, principal, alert_id)


@router.post("/{alert_id}/test", response_model=AlertTestResult)
async def test_rule(
    alert_id: uuid.UUID, request: Request, principal: CurrentUser, session: SessionDep
) -> AlertTestResult:
    """Send an `alert.test` notification through the rule's channel now; the result is also
    in the delivery log."""
    result = await service.send_test(session, principal, _ctx(request), alert_id)
    return AlertTestResult.model_validate(result)


@router.get("/{alert_id}/deliveries", response_model=DeliveryPage)
async def deliveries(
    alert_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> DeliveryPage:
    """The rule's delivery log, newest first: each attempt's time, status code or error."""
    items, next_cursor = await service.deliveries(session, principal, alert_id, limit, cursor)
    return DeliveryPage(items=[Delivery.model_validate(i) for i in items], next_cursor=next_cursor)


@router.post("/{alert_id}/deliveries/{delivery_id}/redeliver", response_model=Delivery)
async def redeliver(
    alert_id: uuid.UUID, delivery_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> Delivery:
    """Send a failed (or delivered) delivery again, with the same delivery id."""
    d = await service.redeliver(session, principal, alert_id, delivery_id)
    return Delivery.model_validate(service.delivery_view(d, {}))
