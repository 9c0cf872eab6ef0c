"""The desk end to end in Chromium: a rumor incident from the queue to a published reply by
two people, what a patrol officer can see and post, a 409 merge, CSRF refusal, and the draft
flow by keyboard alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from store.records import Draft, DraftState, Incident, IncidentState, Publication
from tests.desk.conftest import PASSWORD, ChatServer, Desk, assert_csp_clean, shot
from triage.replies.drafts import list_drafts


def _draft(desk: Desk) -> Draft:
    drafts = list_drafts(desk.store, desk.incident.id)
    assert len(drafts) == 1
    return drafts[0]


def _incident(desk: Desk) -> Incident:
    incident = desk.store.get("incidents", desk.incident.id, Incident)
    assert incident is not None
    return incident


def _csrf(page: Page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value") or ""


def _fits_a_tablet(page: Page, name: str) -> None:
    """At a tablet's width (portrait) the page needs no sideways scrolling."""
    size = page.viewport_size
    page.set_viewport_size({"width": 820, "height": 1180})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 820, f"{page.url} is {width}px wide on a tablet"
    shot(page, name)
    if size:
        page.set_viewport_size(size)


def _start_draft(desk: Desk, page: Page) -> Draft:
    """From the queue to a new draft of the incident (as the signed-in officer)."""
    page.goto(f"{desk.url}/desk/queue")
    page.get_by_role("link", name=desk.incident.title).click()
    expect(page.get_by_test_id("incident-title")).to_have_text(desk.incident.title)
    page.get_by_test_id("new-draft").click()
    expect(page.get_by_test_id("draft-state")).to_have_text("起草中")
    return _draft(desk)


def test_two_people_take_a_rumor_from_the_queue_to_a_published_reply(desk: Desk) -> None:
    press = desk.login("wang.wei")
    # the queue: the incident, its SLA clock counting down, filters kept by the auto-refresh
    press.select_option("select[name=category]", "rumor")
    press.get_by_role("button", name="筛选").click()
    expect(press).to_have_url(re.compile(r"category=rumor"))
    row = press.get_by_test_id("queue-row").filter(has_text=desk.incident.title)
    expect(row).to_have_count(1)
    expect(row.locator(".clock")).to_contain_text(re.compile(r"剩余 \d\d:\d\d:\d\d"))
    refresh = press.locator("#queue-rows").get_attribute("hx-get") or ""
    assert "category=rumor" in refresh
    # a clock runs out: the next refresh (htmx) shows it red, the filter still applied
    incident = _incident(desk)
    running = next(c for c in incident.sla if c.met_at is None)
    running.due_at = datetime.now(UTC) - timedelta(minutes=5)
    desk.store.put("incidents", incident)
    press.evaluate("htmx.trigger('#queue-rows', 'desk:refresh')")
    expect(row.locator(".clock.breached")).to_contain_text("已超时")
    assert "category=rumor" in (press.locator("#queue-rows").get_attribute("hx-get") or "")
    # while the keyboard focus is on a row the refresh waits (the focus is not thrown away)
    stamp = press.locator("#queue-rows").get_attribute("data-generated")
    row.get_by_role("link").focus()
    press.evaluate("htmx.trigger('#queue-rows', 'desk:refresh')")
    press.wait_for_timeout(500)
    assert press.locator("#queue-rows").get_attribute("data-generated") == stamp
    assert press.evaluate("document.activeElement.tagName") == "A"
    press.evaluate("document.activeElement.blur()")
    press.evaluate("htmx.trigger('#queue-rows', 'desk:refresh')")
    expect(press.locator("#queue-rows")).not_to_have_attribute("data-generated", stamp or "")
    press.select_option("select[name=category]", "help_request")
    press.get_by_role("button", name="筛选").click()
    expect(press.get_by_test_id("queue-row")).to_have_count(0)
    # each filter, through the URL the form builds: a matching value shows it, another hides it
    incident = _incident(desk)
    for name, hit, miss in (
        ("state", incident.state.value, "closed"),
        ("severity", str(incident.severity), str(incident.severity % 4 + 1)),
        ("team", incident.team, "hotline"),
        ("jurisdiction", incident.jurisdiction, "110101"),
    ):
        for value, count in ((hit, 1), (miss, 0)):
            press.goto(f"{desk.url}/desk/queue?{name}={value}")
            expect(press.get_by_test_id("queue-row")).to_have_count(count)
    press.goto(f"{desk.url}/desk/queue")
    shot(press, "01-queue")
    assert_csp_clean(press)

    # the incident page: severity reasons, evidence, volume chart, claim match with its source
    press.get_by_role("link", name=desk.incident.title).click()
    expect(press.get_by_test_id("evidence-post")).to_have_count(
        len(desk.incident.evidence_post_ids)
    )
    expect(press.get_by_test_id("volume-chart")).to_be_visible()
    expect(press.get_by_test_id("claim").first).to_contain_text("武汉发布")
    expect(press.locator("table.components tbody tr")).to_have_count(
        len(desk.incident.severity_components)
    )
    expect(press.get_by_test_id("to-approved")).to_have_count(0)  # press cannot approve
    press.select_option("select[name=assignee]", "wang.wei")
    press.get_by_test_id("assign").click()
    expect(press.locator(".meta")).to_contain_text("负责人：wang.wei")
    shot(press, "02-incident")
    assert_csp_clean(press)
    _fits_a_tablet(press, "02-incident-tablet")

    # the draft: sentences with their citations, the citation table; submit for review
    press.get_by_test_id("new-draft").click()
    expect(press.get_by_test_id("draft-state")).to_have_text("起草中")
    expect(press.get_by_test_id("sources")).to_contain_text("武汉发布")
    expect(press.get_by_test_id("approve")).to_have_count(0)
    shot(press, "03-draft")
    assert_csp_clean(press)
    _fits_a_tablet(press, "03-draft-tablet")
    press.get_by_test_id("submit").click()
    expect(press.get_by_test_id("draft-state")).to_have_text("待审核")
    assert _incident(desk).state is IncidentState.in_review

    # a supervisor: opens it from the queue, approves, publishes on Weibo
    boss = desk.login("li.na")
    boss.get_by_role("link", name=desk.incident.title).click()
    boss.get_by_test_id("draft-link").click()
    expect(boss.get_by_test_id("four-eyes")).to_contain_text("wang.wei")
    shot(boss, "04-review")
    boss.get_by_test_id("approve").click()
    expect(boss.get_by_test_id("draft-state")).to_have_text("已批准")
    boss.locator("details.preview summary").click()
    expect(boss.get_by_test_id("weibo-text")).to_contain_text("不实")
    boss.select_option("select[name=channel]", "weibo")
    boss.fill("input[name=url]", "https://weibo.example/wuhan/1")
    boss.get_by_test_id("publish").click()
    expect(boss.get_by_test_id("draft-state")).to_have_text("已发布")
    expect(boss.get_by_test_id("publications")).to_contain_text("微博")
    shot(boss, "05-published")

    draft = _draft(desk)
    assert (draft.state, draft.last_editor, draft.approved_by) == (
        DraftState.published,
        "wang.wei",
        "li.na",
    )
    [publication] = desk.store.find(
        "publications", Publication, where={"incident_id": desk.incident.id}
    )
    assert (publication.channel, publication.approver, publication.published_by) == (
        "weibo",
        "li.na",
        "li.na",
    )
    assert _incident(desk).state is IncidentState.monitoring

    # after publishing: the reply effect and the audit trail on the incident page
    boss.goto(f"{desk.url}/desk/incidents/{desk.incident.id}")
    expect(boss.get_by_test_id("effect")).to_contain_text("半衰期")
    audit = boss.get_by_test_id("audit")
    for action in ("draft.submit", "draft.approve", "draft.publish", "incident.open"):
        expect(audit).to_contain_text(action)
    shot(boss, "06-effect")
    assert_csp_clean(boss)


def test_patrol_sees_no_approve_buttons_and_cannot_post_to_them(desk: Desk) -> None:
    press = desk.login("wang.wei")
    draft = _start_draft(desk, press)
    press.get_by_test_id("submit").click()
    expect(press.get_by_test_id("draft-state")).to_have_text("待审核")
    draft = _draft(desk)

    patrol = desk.login("sun.patrol")
    patrol.goto(f"{desk.url}/desk/drafts/{draft.id}")
    expect(patrol.get_by_test_id("draft-state")).to_have_text("待审核")
    for test_id in ("approve", "reject", "publish", "submit", "edit-form", "source-form"):
        expect(patrol.get_by_test_id(test_id)).to_have_count(0)
    patrol.goto(f"{desk.url}/desk/incidents/{desk.incident.id}")
    expect(patrol.locator("button[name=to]")).to_have_count(0)
    expect(patrol.get_by_test_id("new-draft")).to_have_count(0)
    shot(patrol, "07-patrol-incident")

    # posting straight to the routes, with a valid CSRF token, is refused by permission
    token = _csrf(patrol)
    for action in ("approve", "reject", "publish"):
        resp = patrol.request.post(
            f"{desk.url}/desk/drafts/{draft.id}/{action}",
            form={"csrf": token, "version": str(draft.version), "comment": "x", "channel": "weibo"},
            max_redirects=0,
        )
        assert resp.status == 403, (action, resp.status)
        assert "无权" in resp.text()
    resp = patrol.request.post(
        f"{desk.url}/desk/incidents/{desk.incident.id}/transition",
        form={"csrf": token, "version": str(_incident(desk).version), "to": "dismissed"},
        max_redirects=0,
    )
    assert resp.status == 403
    # a press officer may not approve either (the API's permission), even by a direct post
    resp = press.request.post(
        f"{desk.url}/desk/drafts/{draft.id}/approve",
        form={"csrf": _csrf(press), "version": str(draft.version)},
        max_redirects=0,
    )
    assert resp.status == 403
    after = _draft(desk)
    assert (after.state, after.version) == (DraftState.in_review, draft.version)


def test_stale_edit_shows_the_other_change_and_reapplies_mine(desk: Desk) -> None:
    wang = desk.login("wang.wei")
    draft = _start_draft(desk, wang)
    zhao = desk.login("zhao.lei")
    zhao.goto(f"{desk.url}/desk/drafts/{draft.id}")

    # both have version 1 open; zhao saves first
    assert "近日，" in draft.text
    zhao.fill("#text", draft.text.replace("近日，", "近期，"))
    zhao.fill("#note", "措辞")
    zhao.get_by_role("button", name="保存新稿").click()
    expect(zhao.get_by_test_id("draft-title")).to_be_visible()
    mine = draft.text + "\n感谢广大网友的关注和监督。"
    wang.fill("#text", mine)
    wang.get_by_role("button", name="保存新稿").click()

    conflict = wang.get_by_test_id("conflict")
    expect(conflict).to_contain_text("zhao.lei")
    expect(wang.get_by_test_id("theirs").locator(".changed")).to_contain_text("近期")
    expect(wang.get_by_test_id("mine")).to_have_value(mine)
    shot(wang, "08-conflict")
    assert_csp_clean(wang)
    current = _draft(desk)
    assert (current.last_editor, current.revision) == ("zhao.lei", 2)

    # re-apply on top of the current version: nothing lost, the history keeps both
    wang.get_by_test_id("reapply").click()
    expect(wang.get_by_test_id("conflict")).to_have_count(0)
    merged = _draft(desk)
    assert merged.text == mine.strip()
    assert [(r.number, r.editor) for r in merged.revisions] == [
        (1, "wang.wei"),
        (2, "zhao.lei"),
        (3, "wang.wei"),
    ]


def test_a_post_without_the_csrf_token_is_refused(desk: Desk) -> None:
    press = desk.login("wang.wei")
    press.goto(f"{desk.url}/desk/incidents/{desk.incident.id}")
    before = _incident(desk)
    target = f"{desk.url}/desk/incidents/{desk.incident.id}/transition"
    form = {"version": str(before.version), "to": "dismissed", "reason": "test"}
    for extra in ({}, {"csrf": "0" * 64}):
        resp = press.request.post(target, form={**form, **extra}, max_redirects=0)
        assert resp.status == 403
        assert "CSRF" in resp.text()
    # the same form with the page's token goes through
    resp = press.request.post(target, form={**form, "csrf": _csrf(press)}, max_redirects=0)
    assert resp.status == 303
    after = _incident(desk)
    assert (after.state, after.version) == (IncidentState.dismissed, before.version + 1)
    # another browser's token does not work in this session
    other = desk.login("zhao.lei")
    other.goto(f"{desk.url}/desk/incidents/{desk.incident.id}")
    resp = press.request.post(
        target, form={**form, "to": "triaged", "version": str(after.version), "csrf": _csrf(other)}
    )
    assert resp.status == 403
    assert _incident(desk).version == after.version


def _tab_to(page: Page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches `selector` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(
            "s => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
    raise AssertionError(f"{selector} never got the focus by Tab")


def test_the_draft_flow_by_keyboard_alone(desk: Desk) -> None:
    page = desk.new_page(1024, 768)
    page.goto(f"{desk.url}/desk/queue")
    page.keyboard.type("wang.wei")  # the login form focuses the user name
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("who")).to_contain_text("wang.wei")

    _tab_to(page, f"a[href='/desk/incidents/{desk.incident.id}']")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("incident-title")).to_be_visible()
    _tab_to(page, "[data-testid=new-draft]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("draft-state")).to_have_text("起草中")

    _tab_to(page, "#text")
    page.keyboard.press("Control+End")
    page.keyboard.type("请广大市民理性看待，不信谣、不传谣。")
    _tab_to(page, "#note")
    page.keyboard.type("补充呼吁")
    page.keyboard.press("Enter")  # submits the edit form
    expect(page.get_by_test_id("sentences")).to_contain_text("理性看待")
    shot(page, "09-keyboard-edit")

    _tab_to(page, "[data-testid=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("draft-state")).to_have_text("待审核")
    draft = _draft(desk)
    assert draft.state is DraftState.in_review and "理性看待" in draft.text


def test_grounding_problem_on_its_sentence_then_an_officer_source_fixes_it(desk: Desk) -> None:
    page = desk.login("wang.wei")
    draft = _start_draft(desk, page)
    fact = "全市3000家超市今日正常营业。"
    page.fill("#text", draft.text + "\n" + fact)
    page.get_by_role("button", name="保存新稿").click()
    bad = page.locator(".sentence.is-error")
    expect(bad).to_have_count(1)
    expect(bad).to_contain_text("3000")
    expect(bad.get_by_test_id("problem")).not_to_have_count(0)
    shot(page, "10-grounding-problem")

    # submitting is refused by the library's grounding check, and the page says why
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("error-message")).to_contain_text("3000")
    assert _draft(desk).state is DraftState.drafting
    page.get_by_role("link", name="返回").click()

    # the officer adds the authority's statement and cites it: the sentence is grounded
    page.fill("#src-name", "市商务局")
    page.fill("#src-text", "全市3000家超市今日正常营业，货源充足。")
    page.fill("#src-url", "https://swj.example.gov.cn/notice/1")
    page.select_option("#src-verdict", "false")
    page.get_by_role("button", name="添加来源").click()
    expect(page.get_by_test_id("sources")).to_contain_text("市商务局")
    ref = max(s.ref for s in _draft(desk).sources)
    text = _draft(desk).text.replace(fact, f"全市3000家超市今日正常营业[{ref}]。")
    page.fill("#text", text)
    page.get_by_role("button", name="保存新稿").click()
    expect(page.locator(".sentence.is-error")).to_have_count(0)
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("draft-state")).to_have_text("待审核")


def test_knowledge_base_entry_and_search_and_the_digests(desk: Desk) -> None:
    from digest.jobs import run_digest

    boss = desk.login("li.na")
    boss.goto(f"{desk.url}/desk/kb")
    boss.fill("#kb-claim", "自来水检测出病毒")
    boss.fill("#kb-answer", "市水务集团表示，全市自来水水质检测全部达标，未检出病毒。")
    boss.select_option("#kb-verdict", "false")
    boss.fill("#kb-source", "市水务集团")
    boss.get_by_role("button", name="保存条目").click()
    expect(boss.get_by_role("status")).to_contain_text("已保存条目")
    # typing searches as you go (htmx), without leaving the page
    boss.fill("#q", "自来水里有病毒吗")
    expect(boss.get_by_test_id("kb-hit").first).to_contain_text("市水务集团")
    expect(boss).to_have_url(re.compile(r"/desk/kb\?saved="))
    shot(boss, "11-kb")
    assert_csp_clean(boss)

    # a press officer finds it but gets no entry form (supervisors only, as in the API)
    press = desk.login("wang.wei")
    press.goto(f"{desk.url}/desk/kb?q=自来水病毒")
    expect(press.get_by_test_id("kb-hit").first).to_contain_text("市水务集团")
    expect(press.locator("#kb-claim")).to_have_count(0)
    expect(press.get_by_role("link", name="简报")).to_have_count(0)

    # the supervisors' digests: listed, opened in the page with their charts
    day = datetime.now(desk.settings.tz).date()
    run_digest(desk.settings, desk.store, kind="daily", day=day, deliver=False)
    boss.get_by_role("link", name="简报").click()
    boss.get_by_test_id("digest-link").first.click()
    expect(boss.get_by_test_id("digest-title")).to_contain_text("日报")
    images = boss.locator("img.digest-chart")
    expect(images.first).to_be_visible()
    assert all(
        boss.evaluate("img => img.complete && img.naturalWidth > 0", img.element_handle())
        for img in images.all()
    )
    shot(boss, "12-digest")


def test_four_eyes_a_supervisor_cannot_approve_their_own_text(desk: Desk) -> None:
    chen = desk.login("chen.jie")
    draft = _start_draft(desk, chen)
    chen.fill("#text", draft.text.replace("近日，", "近期，"))
    chen.get_by_role("button", name="保存新稿").click()
    chen.get_by_test_id("submit").click()
    expect(chen.get_by_test_id("four-eyes")).to_contain_text("chen.jie")
    chen.get_by_test_id("approve").click()
    expect(chen.get_by_role("heading", level=1)).to_contain_text("四眼原则")
    expect(chen.get_by_test_id("error-message")).to_contain_text("chen.jie")
    shot(chen, "13-four-eyes")
    assert _draft(desk).state is DraftState.in_review

    other = desk.login("li.na")
    other.goto(f"{desk.url}/desk/drafts/{draft.id}")
    other.get_by_test_id("approve").click()
    expect(other.get_by_test_id("draft-state")).to_have_text("已批准")
    assert _draft(desk).approved_by == "li.na"


def test_llm_rewrite_kept_only_while_grounded(desk: Desk, chat_server: ChatServer) -> None:
    page = desk.login("wang.wei")
    draft = _start_draft(desk, page)

    # a rewrite that adds a number no source states: refused, the draft stands, reason shown
    chat_server.edit = lambda original: original + "\n全市共有5000家超市。"
    page.get_by_test_id("rewrite").click()
    expect(page.get_by_test_id("rewrite-note")).to_contain_text("rejected")
    after = _draft(desk)
    assert (after.text, after.revision) == (draft.text, 1)

    # a grounded one (wording only): a new revision by the officer who asked, origin llm
    chat_server.edit = lambda original: original.replace("近日，", "近期，")
    page.fill("input[name=instructions]", "更简短")
    page.get_by_test_id("rewrite").click()
    expect(page.get_by_test_id("rewrite-note")).to_contain_text("accepted")
    expect(page.get_by_test_id("sentences")).to_contain_text("近期，")
    rewritten = _draft(desk)
    assert (rewritten.revision, rewritten.revisions[-1].origin, rewritten.last_editor) == (
        2,
        "llm",
        "wang.wei",
    )
    assert chat_server.requests == 2
    shot(page, "14-rewrite")
