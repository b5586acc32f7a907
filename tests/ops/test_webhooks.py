"""Outgoing webhooks, against a real local receiver (an HTTP server on 127.0.0.1 in a
thread): signed deliveries that verify with the Standard Webhooks library, the outbox (a
rollback sends nothing), failures with back-off, redelivery with the same webhook-id, an
endpoint disabled after a day of failures with its owner told once, the URL rules, the
secret kept out of every log, row and response, who may do what, and the statement count
of the delivery log."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update
from standardwebhooks import Webhook
from strawberry.relay import from_base64, to_base64

from alumnet.domain.errors import DomainError
from alumnet.domain.identity import two_factor
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.domain.ops import webhooks
from alumnet.persistence.models import (
    Fund,
    Job,
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from alumnet.persistence.uow import Origin
from tests.cohorts.conftest import ENROLL, Programme, programme  # noqa: F401
from tests.conftest import Api, app_api

CREATE = """mutation($i: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $i) {
  secret endpoint { id url enabled eventTypes } userErrors { field code message } } }"""
UPDATE = """mutation($i: WebhookEndpointUpdateInput!) { webhookEndpointUpdate(input: $i) {
  endpoint { id url enabled eventTypes failingSince } userErrors { field code message } } }"""
ROTATE = """mutation($id: ID!) { webhookEndpointSecretRotate(input: {id: $id}) {
  secret endpoint { id } userErrors { field code message } } }"""
DELETE = """mutation($id: ID!) { webhookEndpointDelete(input: {id: $id}) {
  deletedId userErrors { field code message } } }"""
REDELIVER = """mutation($id: ID!) { webhookRedeliver(input: {deliveryId: $id}) {
  delivery { id status } userErrors { field code message } } }"""
LOG = """query { webhookEndpoints(first: 50) { totalCount edges { node {
  id url enabled failingSince disabledReason eventTypes
  deliveries(first: 20) { totalCount edges { node {
    id eventType status attempts lastResponseCode lastError lastAttemptAt durationMs
    nextAttemptAt attemptLog { succeeded responseCode durationMs error } } } } } } } }"""
USER_UPDATE = """mutation($id: ID!, $name: String!) { userUpdate(input: {id: $id, name: $name}) {
  userErrors { code message } } }"""


class Receiver:
    """A webhook receiver: records each POST (headers, body) and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with owner.lock:
                    owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(owner.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
        self.status = 200


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


@dataclass
class Hooks:
    api: Api
    receiver: Receiver
    tokens: dict[str, str]
    ids: dict[str, str]

    async def gql(
        self, who: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> Any:
        return await self.api.gql(query, variables, token=self.tokens.get(who or ""))

    async def ok(self, query: str, variables: dict[str, Any], key: str) -> Any:
        body = await self.gql("admin", query, variables)
        assert "errors" not in body, body
        payload = body["data"][key]
        assert payload["userErrors"] == [], payload
        return payload

    async def endpoint(self, types: list[str] | None = None, url: str | None = None) -> Any:
        return await self.ok(
            CREATE,
            {"i": {"url": url or self.receiver.url, "eventTypes": types or ["USER_CREATED"],
                   "description": "CRM sync"}},
            "webhookEndpointCreate",
        )  # fmt: skip

    @property
    def runtime(self) -> Any:
        return self.api.app.state.runtime

    async def scalar(self, query: Any) -> Any:
        async with self.runtime.database.session() as session:
            return (await session.execute(query)).scalar()

    async def change(self, statement: Any) -> None:
        async with self.runtime.transaction(origin=Origin(via="cli")) as uow:
            await uow.session.execute(statement)

    async def sweep(self) -> None:
        """The retry sweep, as the scheduler runs it, and the jobs it queues."""
        await webhooks.retry_due(self.runtime)
        await self.api.run_jobs()

    async def log(self) -> list[dict[str, Any]]:
        body = await self.gql("admin", LOG)
        assert "errors" not in body, body
        return [e["node"] for e in body["data"]["webhookEndpoints"]["edges"]]


@pytest.fixture
async def hooks(api: Api, receiver: Receiver) -> Hooks:
    receiver.reset()
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in [("admin", "ADMIN"), ("manager", "MANAGER"), ("developer", "DEVELOPER"),
                      ("student", "STUDENT")]:  # fmt: skip
        ids[who], tokens[who] = await api.create_user(f"{who}@example.org", [role])
    return Hooks(api=api, receiver=receiver, tokens=tokens, ids=ids)


def pk(global_id: str) -> int:
    return int(from_base64(global_id)[1])


async def test_an_event_is_delivered_signed_and_verifies(
    hooks: Hooks, capfd: pytest.CaptureFixture[str]
) -> None:
    made = await hooks.endpoint(["USER_CREATED", "USER_UPDATED"])
    secret = made["secret"]
    assert secret.startswith("whsec_") and made["endpoint"]["enabled"] is True
    assert made["endpoint"]["url"] == hooks.receiver.url
    user_id, _ = await hooks.api.create_user("new@example.org", ["STUDENT"])
    await hooks.api.run_jobs()

    [(headers, body)] = hooks.receiver.received
    event = Webhook(secret).verify(body, headers)
    assert event["type"] == "user.created"
    assert event["data"] == {"id": user_id, "roles": ["STUDENT"]}
    assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    assert headers["content-type"] == "application/json"
    [endpoint] = await hooks.log()
    [delivery] = [e["node"] for e in endpoint["deliveries"]["edges"]]
    assert headers["webhook-id"] == delivery["id"]  # the delivery's global id
    assert delivery["eventType"] == "USER_CREATED" and delivery["status"] == "SUCCEEDED"
    assert delivery["attempts"] == 1 and delivery["lastResponseCode"] == 200
    assert delivery["nextAttemptAt"] is None and delivery["lastAttemptAt"] is not None
    assert delivery["attemptLog"] == [
        {"succeeded": True, "responseCode": 200, "durationMs": delivery["durationMs"],
         "error": None}
    ]  # fmt: skip
    assert endpoint["failingSince"] is None

    # An update through GraphQL is an event too: the fields' names, never their values.
    await hooks.ok(USER_UPDATE, {"id": user_id, "name": "New Name"}, "userUpdate")
    await hooks.api.run_jobs()
    headers, body = hooks.receiver.received[-1]
    assert Webhook(secret).verify(body, headers)["data"] == {"id": user_id, "changed": ["name"]}
    assert b"New Name" not in body

    # Rotated: the new secret signs, the old one no longer verifies.
    rotated = (await hooks.ok(ROTATE, {"id": endpoint["id"]}, "webhookEndpointSecretRotate"))[
        "secret"
    ]
    assert rotated.startswith("whsec_") and rotated != secret
    await hooks.api.create_user("newer@example.org", ["ALUMNUS"])
    await hooks.api.run_jobs()
    headers, body = hooks.receiver.received[-1]
    assert Webhook(rotated).verify(body, headers)["type"] == "user.created"
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body, headers)

    # Neither secret in any row, log line or response but the two payloads that gave them.
    everything = (await hooks.gql("admin", LOG)).__repr__()
    async with hooks.runtime.database.session() as session:
        for table in ("webhook_endpoints", "webhook_deliveries", "webhook_attempts",
                      "audit_events", "jobs", "notifications", "outbound_emails"):  # fmt: skip
            everything += repr((await session.execute(text(f"SELECT * FROM {table}"))).all())
    out, err = capfd.readouterr()
    everything += out + err
    for given in (secret, rotated):
        assert given not in everything
        assert given.removeprefix("whsec_") not in everything
    audit = await hooks.scalar(
        select(func.count()).select_from(text("audit_events")).where(
            text("action IN ('webhook.create', 'webhook.rotate_secret')")
        )
    )  # fmt: skip
    assert audit == 2


async def test_a_rolled_back_change_sends_nothing(hooks: Hooks) -> None:
    await hooks.endpoint()
    from alumnet.domain.identity.users import ensure_user

    with pytest.raises(RuntimeError):
        async with hooks.runtime.transaction(origin=Origin(via="cli")) as uow:
            await ensure_user(hooks.runtime, uow, email="gone@example.org", name="Gone",
                              roles=[Role.STUDENT], password="correct horse battery")  # fmt: skip
            written = select(func.count()).select_from(WebhookDelivery)
            assert (await uow.session.execute(written)).scalar() == 1  # written, in it
            raise RuntimeError("changed my mind")
    await hooks.api.run_jobs()
    assert hooks.receiver.received == []
    assert await hooks.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    jobs = select(func.count()).select_from(Job).where(Job.name == webhooks.DELIVER_JOB)
    assert await hooks.scalar(jobs) == 0
    # An endpoint not subscribed to an event gets nothing either; a subscribed one does.
    await hooks.endpoint(["IMPORT_FINISHED"])
    await hooks.api.create_user("kept@example.org", ["STUDENT"])
    await hooks.api.run_jobs()
    assert len(hooks.receiver.received) == 1
    assert await hooks.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


async def test_failures_back_off_redeliver_and_a_day_of_them_disables(hooks: Hooks) -> None:
    made = await hooks.endpoint()
    endpoint_pk = pk(made["endpoint"]["id"])
    hooks.receiver.status = 500
    await hooks.api.create_user("a@example.org", ["STUDENT"])
    await hooks.api.run_jobs()
    [endpoint] = await hooks.log()
    [delivery] = [e["node"] for e in endpoint["deliveries"]["edges"]]
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 1
    assert delivery["lastResponseCode"] == 500 and delivery["lastError"] == "HTTP_STATUS"
    due = datetime.fromisoformat(delivery["nextAttemptAt"])
    assert timedelta(minutes=4) < due - datetime.now(UTC) <= timedelta(minutes=5)
    assert endpoint["failingSince"] is not None and endpoint["enabled"] is True

    # Not due yet: the sweep leaves it; due: it is tried again, 15 minutes after that.
    await hooks.sweep()
    assert len(hooks.receiver.received) == 1
    past = datetime.now(UTC) - timedelta(seconds=1)
    await hooks.change(update(WebhookDelivery).values(next_attempt_at=past))
    await hooks.sweep()
    assert len(hooks.receiver.received) == 2
    [delivery] = [e["node"] for e in (await hooks.log())[0]["deliveries"]["edges"]]
    assert delivery["attempts"] == 2 and delivery["status"] == "FAILED"
    due = datetime.fromisoformat(delivery["nextAttemptAt"])
    assert timedelta(minutes=14) < due - datetime.now(UTC) <= timedelta(minutes=15)
    assert [a["responseCode"] for a in delivery["attemptLog"]] == [500, 500]

    # Redelivered by hand once the receiver is fixed: the same webhook-id, signed again.
    hooks.receiver.status = 204
    redone = await hooks.ok(REDELIVER, {"id": delivery["id"]}, "webhookRedeliver")
    assert redone["delivery"]["status"] == "PENDING"
    await hooks.api.run_jobs()
    ids = {h["webhook-id"] for h, _ in hooks.receiver.received}
    assert ids == {delivery["id"]} and len(hooks.receiver.received) == 3
    Webhook(made["secret"]).verify(hooks.receiver.received[-1][1], hooks.receiver.received[-1][0])
    [endpoint] = await hooks.log()
    [delivery] = [e["node"] for e in endpoint["deliveries"]["edges"]]
    assert delivery["status"] == "SUCCEEDED" and delivery["attempts"] == 3
    assert delivery["lastResponseCode"] == 204 and delivery["nextAttemptAt"] is None
    assert endpoint["failingSince"] is None  # a success forgets the failures

    # Failing again, for more than a day: the next failed attempt disables it, once.
    hooks.receiver.status = 503
    await hooks.api.create_user("b@example.org", ["STUDENT"])
    await hooks.api.run_jobs()
    day_ago = datetime.now(UTC) - timedelta(hours=25)
    await hooks.change(update(WebhookEndpoint).values(failing_since=day_ago))
    await hooks.change(update(WebhookDelivery).where(WebhookDelivery.status == "failed")
                       .values(next_attempt_at=past))  # fmt: skip
    await hooks.sweep()
    [endpoint] = await hooks.log()
    assert endpoint["enabled"] is False
    assert endpoint["disabledReason"] == "Every delivery failed for a day."
    stopped = endpoint["deliveries"]["edges"][0]["node"]
    assert stopped["status"] == "FAILED" and stopped["nextAttemptAt"] is None
    told = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.kind == "webhooks", Notification.user_id == pk(hooks.ids["admin"]))
    )
    assert await hooks.scalar(told) == 1
    sent = len(hooks.receiver.received)
    # Disabled: nothing more is sent, retried or emitted, and nobody is told again.
    await hooks.change(update(WebhookDelivery).values(next_attempt_at=past))
    await hooks.api.create_user("c@example.org", ["STUDENT"])
    await hooks.sweep()
    assert len(hooks.receiver.received) == sent
    assert await hooks.scalar(told) == 1
    refused = (await hooks.gql("admin", REDELIVER, {"id": stopped["id"]}))["data"]
    assert [e["code"] for e in refused["webhookRedeliver"]["userErrors"]] == ["ENDPOINT_DISABLED"]
    # Enabled again by the admin: failures forgotten, redelivery works.
    again = await hooks.ok(UPDATE, {"i": {"id": made["endpoint"]["id"], "enabled": True}},
                           "webhookEndpointUpdate")  # fmt: skip
    assert again["endpoint"]["enabled"] is True and again["endpoint"]["failingSince"] is None
    hooks.receiver.status = 200
    await hooks.ok(REDELIVER, {"id": stopped["id"]}, "webhookRedeliver")
    await hooks.api.run_jobs()
    assert hooks.receiver.received[-1][0]["webhook-id"] == stopped["id"]
    assert (
        await hooks.scalar(
            select(WebhookEndpoint.last_success_at).where(WebhookEndpoint.id == endpoint_pk)
        )
        is not None
    )


async def test_enrolment_and_integrity_events(hooks: Hooks, programme: Programme) -> None:  # noqa: F811
    made = await hooks.endpoint(["ENROLLMENT_CHANGED", "INTEGRITY_DECISION",
                                 "ATTENDANCE_RECORDED"])  # fmt: skip
    admin = programme.tokens["admin"]
    body = await hooks.api.gql(ENROLL, {"m": programme.ids["mb"], "s": programme.ids["s2"]}, admin)
    assert body["data"]["enrollmentCreate"]["userErrors"] == []
    decide = """mutation($e: ID!) { integrityDecide(input: {enrollmentId: $e, kind: WARN,
      reason: "Copied"}) { userErrors { code message } } }"""
    body = await hooks.api.gql(decide, {"e": programme.ids["e_s1_ma"]}, admin)
    assert body["data"]["integrityDecide"]["userErrors"] == [], body
    submit = """mutation($m: ID!) { attendanceSubmit(input: {missionId: $m}) {
      attendance { id } userErrors { code message } } }"""
    for _ in range(2):  # the second changes nothing: no second event
        body = await hooks.api.gql(submit, {"m": programme.ids["ma"]}, programme.tokens["s1"])
        assert body["data"]["attendanceSubmit"]["userErrors"] == [], body
    await hooks.api.run_jobs()
    events = [Webhook(made["secret"]).verify(b, h) for h, b in hooks.receiver.received]
    assert sorted(e["type"] for e in events) == [
        "attendance.recorded", "enrollment.changed", "integrity.decision",
    ]  # fmt: skip
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["enrollment.changed"] == {
        "missionId": programme.ids["mb"], "change": "ENROLLED", "status": "active",
        "studentIds": [programme.ids["s2"]],
    }  # fmt: skip
    decision = by_type["integrity.decision"]
    assert decision["enrollmentId"] == programme.ids["e_s1_ma"] and decision["kind"] == "warn"
    assert decision["studentId"] == programme.ids["s1"]
    attendance = by_type["attendance.recorded"]
    assert attendance["id"] == body["data"]["attendanceSubmit"]["attendance"]["id"]
    assert attendance["enrollmentId"] == programme.ids["e_s1_ma"]
    assert attendance["status"] == "present" and attendance["day"]


async def test_import_gift_and_inquiry_events(hooks: Hooks, programme: Programme) -> None:  # noqa: F811
    """Later contexts' events, each once and signed: an import run (its preview sends
    nothing), a gift recorded by staff, an inquiry converted into an enrolled student."""
    from tests.data.conftest import status, upload

    made = await hooks.endpoint(["IMPORT_FINISHED", "GIFT_CONFIRMED", "INQUIRY_CONVERTED"])
    admin = programme.tokens["admin"]

    async def ok(query: str, variables: dict[str, Any], key: str) -> Any:
        body = await hooks.api.gql(query, variables, admin)
        assert "errors" not in body, body
        assert body["data"][key]["userErrors"] == [], body
        return body["data"][key]

    # An import: previewed (nothing sent), then run.
    content = b"email,name,graduation year\nada@example.org,Ada Person,2015\n"
    uploaded = await upload(programme, "admin", content)
    import_id = uploaded["data"]["importUpload"]["import"]["id"]
    assert (await status(programme, import_id))["status"] == "PREVIEWED"
    assert hooks.receiver.received == []
    run = """mutation($n: ID!) { importRun(input: {importId: $n}) { userErrors { code } } }"""
    await ok(run, {"n": import_id}, "importRun")
    assert (await status(programme, import_id))["status"] == "COMPLETED"

    # A gift recorded (and so confirmed) by staff.
    async with hooks.runtime.transaction(origin=Origin(via="cli")) as uow:
        fund = Fund(code="SCHOL", name="Scholarships", description="")
        uow.session.add(fund)
        await uow.session.flush()
        fund_id = to_base64("Fund", fund.id)
    record = """mutation($i: GiftRecordInput!) { giftRecord(input: $i) {
      gift { id } userErrors { code message } } }"""
    gift = await ok(record, {"i": {
        "userId": programme.ids["alumnus"], "amount": "25.50", "currency": "USD",
        "date": "2026-03-01", "fundId": fund_id, "paymentMethod": "CARD",
    }}, "giftRecord")  # fmt: skip

    # An inquiry taken to APPLIED, then converted into a student enrolled in a mission.
    create = """mutation($i: InquiryCreateInput!) { inquiryCreate(input: $i) {
      inquiry { id } userErrors { code message } } }"""
    stage = """mutation($i: InquiryStageChangeInput!) { inquiryStageChange(input: $i) {
      userErrors { code message } } }"""
    convert = """mutation($i: InquiryConvertInput!) { inquiryConvert(input: $i) {
      student { id } userErrors { code message } } }"""
    inquiry = (
        await ok(
            create,
            {"i": {"name": "Priya Raman", "email": "priya@example.net", "source": "REFERRAL"}},
            "inquiryCreate",
        )
    )["inquiry"]
    for to in ("CONTACTED", "COUNSELLED", "APPLIED"):
        await ok(stage, {"i": {"id": inquiry["id"], "stage": to}}, "inquiryStageChange")
    student = (await ok(convert, {"i": {"id": inquiry["id"], "missionId": programme.ids["mc"]}},
                        "inquiryConvert"))["student"]  # fmt: skip
    await ok(convert, {"i": {"id": inquiry["id"]}}, "inquiryConvert")  # again: no event
    await hooks.api.run_jobs()

    events = [Webhook(made["secret"]).verify(b, h) for h, b in hooks.receiver.received]
    assert sorted(e["type"] for e in events) == [
        "gift.confirmed", "import.finished", "inquiry.converted",
    ]  # fmt: skip
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["import.finished"] == {
        "id": import_id, "kind": "alumni", "status": "completed",
        "counts": by_type["import.finished"]["counts"],
    }  # fmt: skip
    assert by_type["import.finished"]["counts"]["created"] == 1
    donor = by_type["gift.confirmed"].pop("donorId")
    assert from_base64(donor)[0] == "Donor"
    assert by_type["gift.confirmed"] == {
        "id": gift["gift"]["id"], "amount": "25.50", "currency": "USD", "date": "2026-03-01",
        "fundId": fund_id, "campaignId": None, "source": "staff", "anonymous": False,
    }  # fmt: skip
    assert by_type["inquiry.converted"] == {
        "id": inquiry["id"], "userId": student["id"], "created": True,
        "missionId": programme.ids["mc"],
    }  # fmt: skip
    assert b"priya" not in b"".join(body for _, body in hooks.receiver.received).lower()


async def test_bad_urls_are_refused_and_nothing_is_written(hooks: Hooks) -> None:
    for url, code in [
        ("ftp://example.org/hooks", "INVALID_URL"),
        ("not a url", "INVALID_URL"),
        ("https://user:s3cr3t-pw@example.org/hooks", "CREDENTIALS_IN_URL"),
        ("https://example.org/" + "x" * 2000, "INVALID_URL"),
    ]:
        body = await hooks.gql("admin", CREATE, {"i": {"url": url, "eventTypes": ["USER_CREATED"]}})
        payload = body["data"]["webhookEndpointCreate"]
        assert [e["code"] for e in payload["userErrors"]] == [code], (url, payload)
        assert payload["userErrors"][0]["field"] == ["input", "url"]
        assert payload["secret"] is None and payload["endpoint"] is None
        assert "s3cr3t-pw" not in repr(payload["userErrors"])
    body = await hooks.gql("admin", CREATE, {"i": {"url": hooks.receiver.url, "eventTypes": []}})
    assert [e["code"] for e in body["data"]["webhookEndpointCreate"]["userErrors"]] == ["REQUIRED"]
    assert await hooks.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0
    assert await hooks.scalar(select(func.count()).select_from(text("audit_events")).where(
        text("action LIKE 'webhook.%'"))) == 0  # fmt: skip

    # Production: https only, and only to public addresses (checked on save…).
    production = replace(hooks.runtime, settings=replace(hooks.api.settings, env="production"))
    admin = Viewer(user_id=pk(hooks.ids["admin"]), roles=frozenset({Role.ADMIN}))
    for url, code in [
        ("http://example.org/hooks", "NOT_HTTPS"),
        ("https://127.0.0.1/hooks", "PRIVATE_ADDRESS"),
        ("https://10.1.2.3/hooks", "PRIVATE_ADDRESS"),
        ("https://[::1]:8443/hooks", "PRIVATE_ADDRESS"),
        ("https://169.254.169.254/latest", "PRIVATE_ADDRESS"),
        ("https://[::ffff:192.168.0.1]/hooks", "PRIVATE_ADDRESS"),
        ("https://localhost/hooks", "PRIVATE_ADDRESS"),
    ]:
        with pytest.raises(DomainError) as refused:
            async with production.transaction() as uow:
                await webhooks.create_endpoint(production, uow, admin, webhooks.EndpointFields(
                    url=url, event_types=["user.created"]))  # fmt: skip
        assert [p.code for p in refused.value.problems] == [code], url
    async with production.transaction() as uow:  # a public address is fine
        await webhooks.create_endpoint(production, uow, admin, webhooks.EndpointFields(
            url="https://93.184.215.14/hooks", event_types=["user.created"]))  # fmt: skip
    assert await hooks.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1

    # The same through a production server's GraphQL: a clear userError, nothing written.
    async for served in app_api(hooks.api, env="production", debug=False,
                                two_factor_roles=frozenset()):  # fmt: skip
        token = await served.sign_in("admin@example.org")
        for url, code in [("http://example.org/hooks", "NOT_HTTPS"),
                          ("https://10.1.2.3/hooks", "PRIVATE_ADDRESS")]:  # fmt: skip
            body = await served.gql(CREATE, {"i": {"url": url, "eventTypes": ["USER_CREATED"]}},
                                    token=token)  # fmt: skip
            payload = body["data"]["webhookEndpointCreate"]
            assert [e["code"] for e in payload["userErrors"]] == [code], body
            assert payload["endpoint"] is None and payload["secret"] is None
    assert await hooks.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1

    # …and again at delivery: a loopback endpoint saved outside production is not sent to.
    await hooks.change(text("DELETE FROM webhook_endpoints"))
    made = await hooks.endpoint()
    async with hooks.runtime.transaction(origin=Origin(via="cli")) as uow:
        delivery = WebhookDelivery(
            endpoint_id=pk(made["endpoint"]["id"]),
            event_type="user.created",
            payload={"type": "user.created"},
        )
        uow.session.add(delivery)  # fmt: skip
        await uow.session.flush()
        delivery_id = delivery.id
    await webhooks.deliver(production, delivery_id)  # http: refused in production
    assert await hooks.scalar(select(WebhookAttempt.error)) == "NOT_HTTPS"
    https = hooks.receiver.url.replace("http:", "https:")
    await hooks.change(update(WebhookEndpoint).values(url=https))
    await hooks.change(update(WebhookDelivery).values(status="pending"))
    await webhooks.deliver(production, delivery_id)
    assert hooks.receiver.received == []
    errors = select(WebhookAttempt.error).order_by(WebhookAttempt.id.desc()).limit(1)
    assert await hooks.scalar(errors) == "PRIVATE_ADDRESS"
    assert await hooks.scalar(select(WebhookDelivery.status)) == "failed"


async def test_only_admins_manage_webhooks(hooks: Hooks) -> None:
    made = await hooks.endpoint()
    endpoint_id = made["endpoint"]["id"]
    await hooks.api.create_user("e@example.org", ["STUDENT"])
    await hooks.api.run_jobs()
    delivery_id = to_base64("WebhookDelivery", await hooks.scalar(select(WebhookDelivery.id)))
    node = "query($id: ID!) { node(id: $id) { id } }"
    for who in (None, "manager", "developer", "student"):
        body = await hooks.gql(who, LOG)
        assert body.get("data") is None or body["data"]["webhookEndpoints"] is None, who
        assert body["errors"], who
        for gid in (endpoint_id, delivery_id):
            found = await hooks.gql(who, node, {"id": gid})
            assert (found.get("data") or {}).get("node") is None, (who, found)
        for query, variables in [
            (CREATE, {"i": {"url": hooks.receiver.url, "eventTypes": ["USER_CREATED"]}}),
            (UPDATE, {"i": {"id": endpoint_id, "enabled": False}}),
            (ROTATE, {"id": endpoint_id}),
            (DELETE, {"id": endpoint_id}),
            (REDELIVER, {"id": delivery_id}),
        ]:
            body = await hooks.gql(who, query, variables)
            assert body["errors"] and not any((body.get("data") or {}).values()), (who, body)
    assert await hooks.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1
    assert await hooks.scalar(select(WebhookEndpoint.enabled)) is True
    assert len(hooks.receiver.received) == 1
    # The admin sees both, and a made-up id is NOT_FOUND; then deletes it with its log.
    assert (await hooks.gql("admin", node, {"id": delivery_id}))["data"]["node"] is not None
    missing = to_base64("WebhookEndpoint", 999)
    body = await hooks.gql("admin", DELETE, {"id": missing})
    assert [e["code"] for e in body["data"]["webhookEndpointDelete"]["userErrors"]] == ["NOT_FOUND"]
    deleted = await hooks.ok(DELETE, {"id": endpoint_id}, "webhookEndpointDelete")
    assert deleted["deletedId"] == endpoint_id
    for model in (WebhookEndpoint, WebhookDelivery, WebhookAttempt):
        assert await hooks.scalar(select(func.count()).select_from(model)) == 0


async def test_subscribing_needs_the_permission_of_the_events_data(hooks: Hooks) -> None:
    """webhooks:manage alone sends no donors' gifts or prospective students anywhere: a
    keeper holding it (and users:read, through a custom role) subscribes to user events
    only, and may not point an endpoint that carries gifts at another address."""
    role = """mutation($i: RoleCreateInput!) { roleCreate(input: $i) {
      role { id } userErrors { code message } } }"""
    assign = """mutation($i: RoleAssignInput!) { roleAssign(input: $i) {
      assignment { id } userErrors { code message } } }"""
    made_role = await hooks.ok(
        role,
        {"i": {"name": "Webhook keeper", "permissions": ["WEBHOOKS_MANAGE", "USERS_READ"]}},
        "roleCreate",
    )
    keeper_id, hooks.tokens["keeper"] = await hooks.api.create_user(
        "keeper@example.org", ["ALUMNUS"]
    )
    await hooks.ok(assign, {"i": {"userId": keeper_id, "roleId": made_role["role"]["id"]}},
                   "roleAssign")  # fmt: skip
    gifts = await hooks.endpoint(["GIFT_CONFIRMED"])  # an admin may

    async def errors(query: str, variables: dict[str, Any], key: str) -> list[Any]:
        body = await hooks.gql("keeper", query, variables)
        assert "errors" not in body, body
        return [(e["code"], e["field"], e["message"]) for e in body["data"][key]["userErrors"]]

    refused = ("EVENT_NOT_ALLOWED", ["input", "eventTypes"])
    for types, named, permission in [
        (["GIFT_CONFIRMED"], "gift.confirmed", "giving"),
        (["USER_CREATED", "INQUIRY_CONVERTED"], "inquiry.converted", "admissions"),
    ]:
        [(code, field, message)] = await errors(
            CREATE, {"i": {"url": hooks.receiver.url, "eventTypes": types}},
            "webhookEndpointCreate",
        )  # fmt: skip
        assert (code, field) == refused and named in message and permission in message
    mine = await errors(CREATE, {"i": {"url": hooks.receiver.url,
                                       "eventTypes": ["USER_CREATED", "USER_UPDATED"]}},
                        "webhookEndpointCreate")  # fmt: skip
    assert mine == []
    mine_id = await hooks.scalar(select(func.max(WebhookEndpoint.id)))
    # Adding gifts to one's own endpoint, or moving the admin's elsewhere: refused.
    for change in (
        {"id": to_base64("WebhookEndpoint", mine_id),
         "eventTypes": ["USER_CREATED", "GIFT_CONFIRMED"]},
        {"id": gifts["endpoint"]["id"], "url": hooks.receiver.url + "/elsewhere"},
    ):  # fmt: skip
        assert [e[:2] for e in await errors(UPDATE, {"i": change}, "webhookEndpointUpdate")] == [
            refused
        ]
    # Turning it off is not sending anything anywhere: allowed.
    assert await errors(UPDATE, {"i": {"id": gifts["endpoint"]["id"], "enabled": False}},
                        "webhookEndpointUpdate") == []  # fmt: skip
    rows = {e["id"]: e for e in await hooks.log()}
    assert rows[gifts["endpoint"]["id"]]["url"] == hooks.receiver.url
    assert rows[gifts["endpoint"]["id"]]["eventTypes"] == ["GIFT_CONFIRMED"]
    assert rows[to_base64("WebhookEndpoint", mine_id)]["eventTypes"] == [
        "USER_CREATED", "USER_UPDATED",
    ]  # fmt: skip
    assert len(rows) == 2


async def test_the_delivery_log_costs_the_same_statements_for_more_items(hooks: Hooks) -> None:
    sealed = two_factor.seal(hooks.api.settings, webhooks.new_secret())
    owner = pk(hooks.ids["admin"])

    async def add(endpoints: int, deliveries: int) -> None:
        now = datetime.now(UTC)
        async with hooks.runtime.transaction(origin=Origin(via="cli")) as uow:
            for n in range(endpoints):
                endpoint = WebhookEndpoint(url=f"https://example.org/{n}",
                                           event_types=["user.created"],
                                           secret_encrypted=sealed, owner_id=owner)  # fmt: skip
                uow.session.add(endpoint)
                await uow.session.flush()
                for _ in range(deliveries):
                    delivery = WebhookDelivery(
                        endpoint_id=endpoint.id, event_type="user.created", payload={},
                        status="failed", attempts=1, created_at=now,
                    )  # fmt: skip
                    uow.session.add(delivery)
                    await uow.session.flush()
                    attempt = {"delivery_id": delivery.id, "response_code": 500,
                               "error": "HTTP_STATUS"}  # fmt: skip
                    await uow.session.execute(insert(WebhookAttempt).values(**attempt))

    await add(2, 1)
    few, body = await hooks.api.sql_count(LOG, token=hooks.tokens["admin"])
    assert "errors" not in body and body["data"]["webhookEndpoints"]["totalCount"] == 2
    await add(8, 3)
    many, body = await hooks.api.sql_count(LOG, token=hooks.tokens["admin"])
    assert body["data"]["webhookEndpoints"]["totalCount"] == 10
    assert sum(e["node"]["deliveries"]["totalCount"] for e in
               body["data"]["webhookEndpoints"]["edges"]) == 26  # fmt: skip
    assert many == few
