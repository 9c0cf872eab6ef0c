"""Templates and the words the desk shows (Chinese labels of states, roles, categories)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse

from api.desk.session import CSRF_FIELD, csrf_token, remember_nonce
from store import Settings
from triage.users import Principal

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

STATE_NAMES = {
    "new": "新建",
    "triaged": "已研判",
    "assigned": "已分派",
    "drafting": "起草中",
    "in_review": "待审核",
    "approved": "已批准",
    "published": "已发布",
    "monitoring": "跟踪中",
    "closed": "已关闭",
    "dismissed": "已驳回",
}
DRAFT_STATE_NAMES = {
    "drafting": "起草中",
    "in_review": "待审核",
    "approved": "已批准",
    "published": "已发布",
    "superseded": "已被取代",
}
CATEGORY_NAMES = {
    "rumor": "谣言",
    "help_request": "求助",
    "public_demand": "民生诉求",
    "public_order": "公共秩序",
    "supplies_logistics": "物资保供",
    "other": "其他",
}
ROLE_NAMES = {
    "patrol": "巡查员",
    "press": "新闻发言人/宣传干事",
    "supervisor": "值班主管",
    "admin": "管理员",
    "service": "服务账号",
}
CLOCK_NAMES = {"acknowledge": "响应", "first_response": "首次回应", "resolution": "处置完成"}
SEVERITY_NAMES = {1: "一级（特别重大）", 2: "二级（重大）", 3: "三级（较大）", 4: "四级（一般）"}
COMPONENT_NAMES = {
    "reach": "传播量",
    "velocity": "增速",
    "rumor": "谣言可能",
    "match": "辟谣匹配",
    "emotion": "负面情绪",
    "help": "求助",
    "region": "地域",
}
ACTION_NAMES = {
    "submit": "提交审核",
    "approve": "批准",
    "reject": "退回",
    "publish": "发布",
}


VERDICT_NAMES = {"false": "不实", "misleading": "误导", "true": "属实", "unverified": "待证实"}


def number(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def local_time(value: datetime | None, tz: ZoneInfo, fmt: str = "%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).strftime(fmt)


def page(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    """Render a desk template with what every page needs (user, CSRF token, labels)."""
    settings: Settings = request.app.state.settings
    principal: Principal | None = getattr(request.state, "principal", None)
    tz = settings.tz
    values: dict[str, Any] = {
        "request": request,
        "me": principal,
        "role_name": ROLE_NAMES.get(principal.role.value, "") if principal else "",
        "csrf": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "states": STATE_NAMES,
        "draft_states": DRAFT_STATE_NAMES,
        "categories": CATEGORY_NAMES,
        "clock_names": CLOCK_NAMES,
        "severity_names": SEVERITY_NAMES,
        "component_names": COMPONENT_NAMES,
        "action_names": ACTION_NAMES,
        "verdicts": VERDICT_NAMES,
        "num": number,
        "t": lambda value, fmt="%m-%d %H:%M": local_time(value, tz, fmt),
        "now": datetime.now(UTC),
    }
    values.update(context or {})
    response = TEMPLATES.TemplateResponse(request, name, values, status_code=status)
    remember_nonce(request, response)
    return response


def see_other(url: str) -> RedirectResponse:
    """After a successful POST: Post/Redirect/Get."""
    return RedirectResponse(url, status_code=303)
