"""Slack write-back: one thread per alert group, Block Kit limits, escaping, errors and rate limits."""

from __future__ import annotations

import asyncio
import time

from pydantic import SecretStr

from receiver.delivery import SlackRoute, SlackSettings
from receiver.testing import drain
from tests.delivery.builders import GROUP_KEY, make_diagnosis, make_incident, resolved
from tests.delivery.conftest import PUBLIC_URL
from tests.fakes.slack import WEBHOOK_PATH, FakeSlack


def web_api(url: str, **extra: object) -> SlackSettings:
    fields: dict[str, object] = {"token": SecretStr("xoxb-test-token"), "channel": "C0ALERTS", "api_url": url}
    return SlackSettings.model_validate({**fields, **extra})


def all_text(message: dict) -> str:
    parts = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        text = block.get("text") or {}
        parts.append(text.get("text", ""))
        for element in block.get("elements", []):
            label = element.get("text", "")  # a button's label is a plain_text object
            parts.append(label if isinstance(label, str) else label.get("text", ""))
    return "\n".join(parts)


async def test_group_thread_parent_diagnosis_reply_later_alert_and_resolution(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url))
    first = make_incident()
    second = make_incident(id="inc-2", fingerprint="aaaa", labels={**first.labels, "book": "gbpusd"})
    await service.on_incident_firing(first)
    await service.on_diagnosis(first, make_diagnosis())
    await service.on_incident_firing(second)
    await drain(service, 5)

    [parent] = fake.parents()
    assert parent["channel"] == "C0ALERTS"
    assert parent["text"] == "[FIRING] PnLDrawdownHigh (critical): PnL drawdown 42% on fx-spot/eurusd"
    assert parent["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🔥 FIRING: PnLDrawdownHigh (critical)", "emoji": True},
    }
    assert f"<{PUBLIC_URL}/ui/incidents/inc-1|Open in alert-analyst>" in all_text(parent)
    diagnosis_reply, later_alert = fake.replies(parent["ts"])
    assert (
        diagnosis_reply["text"] == "Diagnosis for PnLDrawdownHigh: Connection pool exhausted (confidence 82%)"
    )
    body = all_text(diagnosis_reply)
    assert "*Primary cause:* Connection pool exhausted" in body and "*Confidence:* 82%" in body
    assert "• Volatility spike (market.volatility, 31%)" in body
    assert "1. Raise the pool size to 50\n2. Restart order-router" in body
    assert f"<{PUBLIC_URL}/ui/incidents/inc-1|Full diagnosis>" in body
    assert "Another alert in this group" in all_text(later_alert) and "`book=gbpusd`" in all_text(later_alert)

    await service.on_incident_resolved(resolved(first, after=300), make_diagnosis())
    await drain(service, 5)
    assert fake.updates == []  # the group still has a firing alert
    assert "1 alert(s) of this group still firing" in all_text(fake.replies(parent["ts"])[-1])

    await service.on_incident_resolved(resolved(second, after=900), None)
    await drain(service, 5)
    [update] = fake.updates
    assert (update["channel"], update["ts"]) == ("C0ALERTS", parent["ts"])
    assert update["blocks"][0]["text"]["text"] == "✅ RESOLVED: PnLDrawdownHigh (critical)"
    closing = all_text(fake.replies(parent["ts"])[-1])
    assert "*Resolved* after 15m 00s." in closing
    assert len(fake.parents()) == 1
    assert all(m["thread_ts"] == parent["ts"] for m in fake.messages if m is not parent)


async def test_repeated_events_do_not_repeat_messages(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url))
    incident = make_incident()
    for _ in range(2):
        await service.on_incident_firing(incident)
    for _ in range(2):
        await service.on_incident_resolved(resolved(incident), None)
    await drain(service, 5)
    [parent] = fake.parents()
    assert len(fake.replies(parent["ts"])) == 1
    assert len(fake.updates) == 1


async def test_group_that_fires_again_after_resolving_opens_a_new_thread(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url))
    first = make_incident()
    await service.on_incident_firing(first)
    await service.on_incident_resolved(resolved(first), None)
    again = make_incident(id="inc-2", starts_at=first.starts_at + 3600)
    await service.on_incident_firing(again)
    await service.on_incident_resolved(resolved(again, after=120), None)
    await drain(service, 5)
    assert len(fake.parents()) == 2
    closing = fake.replies(fake.parents()[1]["ts"])[-1]
    assert "*Resolved* after 2m 00s." in all_text(closing)


async def test_routes_pick_the_channel_by_label_regex_and_replies_use_the_returned_channel_id(
    slack, make_service
):
    fake, url = slack
    routes = [SlackRoute(matchers={"desk": "fx-.*", "severity": "critical"}, channel="#fx-oncall")]
    service = await make_service(slack=web_api(url, routes=routes))
    incident = make_incident()
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)
    posts = [args for method, args in fake.requests if method == "chat.postMessage"]
    assert posts[0]["channel"] == "#fx-oncall"
    assert posts[1]["channel"] == "CFXONCALL" and posts[1]["thread_ts"] == fake.parents()[0]["ts"]


async def test_thread_survives_a_restart(slack, make_service):
    fake, url = slack
    first_run = await make_service(slack=web_api(url))
    incident = make_incident()
    await first_run.on_incident_firing(incident)
    await drain(first_run, 5)
    await first_run.stop()

    second_run = await make_service(slack=web_api(url))
    await second_run.on_diagnosis(incident, make_diagnosis())
    await drain(second_run, 5)
    [parent] = fake.parents()
    assert len(fake.replies(parent["ts"])) == 1


async def test_invalid_auth_fails_permanently_without_retry_and_fails_the_thread(slack, make_service):
    fake, url = slack
    settings = SlackSettings(token=SecretStr("xoxb-revoked"), channel="C0ALERTS", api_url=url)
    service = await make_service(slack=settings)
    incident = make_incident()
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)
    assert [m for m, _ in fake.requests] == ["chat.postMessage"]
    parent, reply = await service.list_deliveries("inc-1")
    assert (parent["status"], parent["attempts"]) == ("failed", 1)
    assert "invalid_auth" in parent["last_error"] and "slack.token" in parent["last_error"]
    assert reply["status"] == "failed" and f"depends on delivery {parent['id']}" in reply["last_error"]


async def test_after_a_failed_parent_the_next_alert_of_the_group_opens_a_new_thread(slack, make_service):
    fake, url = slack
    broken = await make_service(
        slack=SlackSettings(token=SecretStr("xoxb-revoked"), channel="C0ALERTS", api_url=url)
    )
    await broken.on_incident_firing(make_incident())
    await drain(broken, 5)
    await broken.stop()

    fixed = await make_service(slack=web_api(url))
    await fixed.on_incident_firing(make_incident(id="inc-2", fingerprint="bbbb"))
    await drain(fixed, 5)
    [parent] = fake.parents()
    assert "inc-2" in all_text(parent)


async def test_channel_not_found_fails_permanently(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url, channel="#missing"))
    await service.on_incident_firing(make_incident())
    await drain(service, 5)
    [row] = await service.list_deliveries("inc-1")
    assert row["status"] == "failed" and "channel_not_found" in row["last_error"]
    assert len(fake.requests) == 1


async def test_rate_limit_waits_for_retry_after_then_succeeds(slack, make_service):
    fake, url = slack
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    service = await make_service(slack=web_api(url))
    started = time.monotonic()
    await service.on_incident_firing(make_incident())
    await drain(service, 5)
    assert time.monotonic() - started >= 1.0
    assert len([m for m, _ in fake.requests if m == "chat.postMessage"]) == 2
    [row] = await service.list_deliveries("inc-1")
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_server_errors_and_proxy_html_pages_are_retried(slack, make_service):
    fake, url = slack
    fake.fail_next("chat.postMessage", status=502, body="<html><h1>502 Bad Gateway</h1></html>")
    fake.fail_next("chat.postMessage", error="internal_error")
    service = await make_service(slack=web_api(url))
    await service.on_incident_firing(make_incident())
    await drain(service, 5)
    [row] = await service.list_deliveries("inc-1")
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert len(fake.parents()) == 1


async def test_mrkdwn_escapes_entities_and_makes_formatting_characters_inert(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url))
    summary = 'rate(x[5m]) > 0.3 & "spread" < 2 *bold* _it_ ~gone~ `code` node_load1'
    await service.on_incident_firing(make_incident(annotations={"summary": summary}))
    await drain(service, 5)
    [parent] = fake.parents()
    inert = 'rate(x[5m]) &gt; 0.3 &amp; "spread" &lt; 2 ∗bold∗ ˍitˍ ∼gone∼ ˋcodeˋ node_load1'
    assert parent["text"] == f"[FIRING] PnLDrawdownHigh (critical): {inert}"
    assert inert in parent["blocks"][1]["text"]["text"]


async def test_label_with_backtick_and_mrkdwn_characters_stays_inside_its_code_span(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url))
    labels = {
        "alertname": "PnLDrawdownHigh",
        "severity": "critical",
        "desk": "fx` *<!channel>* `x",
        "we`ird_*key*": "a\n> quote",
    }
    await service.on_incident_firing(make_incident(labels=labels))
    await drain(service, 5)
    [parent] = fake.parents()
    labels_line = all_text(parent).split("*Labels:* ")[1].split("\n")[0]
    assert labels_line == "`desk=fxˋ *&lt;!channel&gt;* ˋx` `weˋird_*key*=a &gt; quote`"
    assert labels_line.count("`") == 4  # two code spans, each opened and closed by us


async def test_leading_quote_in_untrusted_text_does_not_become_a_blockquote(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url))
    await service.on_incident_firing(make_incident(annotations={"summary": "> injected quote"}))
    await drain(service, 5)
    [parent] = fake.parents()
    assert parent["blocks"][1]["text"]["text"].startswith("\u00ad&gt; injected quote\n")


async def test_huge_diagnosis_is_split_into_replies_within_block_kit_limits(slack, make_service):
    fake, url = slack
    service = await make_service(slack=web_api(url))
    actions = tuple(f"Action {n}: " + "check <pool> & restart " * 8 for n in range(400))
    diagnosis = make_diagnosis(
        executive_summary="Summary & more. " * 900,
        immediate_actions=actions,
        primary_hypothesis=make_diagnosis().primary_hypothesis.__class__(
            "T" * 400, make_diagnosis().primary_hypothesis.category, "db", 0.5, ("e",) * 300, ()
        ),
    )
    incident = make_incident()
    await service.on_diagnosis(incident, diagnosis)
    await drain(service, 10)

    [parent] = fake.parents()
    replies = fake.replies(parent["ts"])
    assert len(replies) > 1
    for reply in replies:
        assert len(reply["blocks"]) <= 50
        assert len(reply["text"]) <= 3000
        for block in reply["blocks"]:
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
                assert "&amp;" in block["text"]["text"] or "<" not in block["text"]["text"]
    joined = "\n".join(all_text(r) for r in replies)
    assert "400. Action 399: check &lt;pool&gt; &amp; restart" in joined
    assert replies[0]["text"].endswith(f"(part 1/{len(replies)})")


async def test_incoming_webhook_mode_posts_messages_without_threads(slack, serve, make_service):
    fake, url = slack
    webhook_url = url.replace("/api/", WEBHOOK_PATH)
    service = await make_service(slack=SlackSettings(webhook_url=SecretStr(webhook_url)))
    incident = make_incident()
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await service.on_incident_resolved(resolved(incident), make_diagnosis())
    await drain(service, 5)
    assert [p["text"].split(" ")[0] for p in fake.webhook_posts] == ["[FIRING]", "Diagnosis", "[RESOLVED]"]
    assert fake.requests == []


async def test_incoming_webhook_404_fails_permanently_and_500_is_retried(slack, make_service):
    fake, url = slack
    fake.fail_next("webhook", status=500)
    service = await make_service(
        slack=SlackSettings(webhook_url=SecretStr(url.replace("/api/", WEBHOOK_PATH)))
    )
    await service.on_incident_firing(make_incident())
    await drain(service, 5)
    assert len(fake.webhook_posts) == 1
    fake.fail_next("webhook", status=404, error="channel_not_found")
    await service.on_incident_firing(make_incident(id="inc-2", group_key="other"))
    await drain(service, 5)
    [row] = await service.list_deliveries("inc-2")
    assert row["status"] == "failed" and "HTTP 404: channel_not_found" in row["last_error"]


def test_group_key_is_the_thread_key() -> None:
    assert GROUP_KEY.startswith("{}:")
    assert FakeSlack.channel_id("#a-b") == "CAB"


async def test_a_post_answered_after_the_timeout_is_found_not_posted_twice(slack, make_service):
    """slack_sdk ignores its timeout when given our session: a slow Slack held the channel's queue for
    aiohttp's default of 5 minutes per attempt. Now the attempt ends after slack.timeout_seconds, and as
    the post may have gone through, the next attempt finds it by its metadata before posting again."""
    fake, url = slack
    fake.hold_parents = asyncio.Event()
    service = await make_service(slack=web_api(url, timeout_seconds=0.5))
    started = time.monotonic()
    await service.on_incident_firing(make_incident())
    await drain(service, 5)
    assert time.monotonic() - started < 4.0
    fake.hold_parents.set()
    [parent] = fake.parents()
    [row] = await service.list_deliveries("inc-1")
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert row["result"]["ts"] == parent["ts"]
    assert [m for m, _ in fake.requests].count("chat.postMessage") == 1
    assert "conversations.history" in [m for m, _ in fake.requests]


def test_only_slack_errors_that_may_have_half_succeeded_ask_before_posting_again() -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.slack_response import SlackResponse

    from receiver.delivery.errors import RetryableDeliveryError
    from receiver.delivery.slack import _api_error

    def classified(error: str, status: int = 200) -> RetryableDeliveryError:
        response = SlackResponse(
            client=None,
            http_verb="POST",
            api_url="",
            req_args={},
            data={"ok": False, "error": error},
            headers={},
            status_code=status,
        )
        exc = _api_error("chat.postMessage", SlackApiError(error, response))
        assert isinstance(exc, RetryableDeliveryError)
        return exc

    assert classified("fatal_error").maybe_sent and classified("internal_error").maybe_sent
    assert not classified("ratelimited", 429).maybe_sent
    assert not classified("service_unavailable").maybe_sent
