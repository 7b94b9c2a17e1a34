"""Who may do what, and over which part of the organisation tree (DESIGN.md, Roles; DOMAIN.md, PIPL).

Handlers ask this module; none of them hard-codes a role. A scope is a unit path: the identity may act on
that unit and everything below it. Least privilege: a member sees self; a group leader their group; a
committee member reads lists of their branch's subtree; a secretary (书记, 副书记) does everything for their
unit's subtree; a grid worker handles their grid's residents' requests; an admin does everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    MEMBER = "member"
    GROUP_LEADER = "group_leader"  # 组长
    COMMITTEE = "committee"  # 委员
    SECRETARY = "secretary"  # 书记, 副书记
    GRID_WORKER = "grid_worker"  # 网格员
    ADMIN = "admin"


# The menu a user sees is that of their highest role.
MENU_ORDER = (Role.ADMIN, Role.SECRETARY, Role.COMMITTEE, Role.GROUP_LEADER, Role.MEMBER, Role.GRID_WORKER)

POST_ROLES = {
    "书记": Role.SECRETARY,
    "副书记": Role.SECRETARY,
    "委员": Role.COMMITTEE,
    "组长": Role.GROUP_LEADER,
}


class Action(StrEnum):
    VIEW_OWN_RECORD = "view_own_record"
    SET_OWN_PREFERENCES = "set_own_preferences"
    LIST_MEMBERS = "list_members"
    APPROVE_BINDING = "approve_binding"
    ISSUE_BIND_CODE = "issue_bind_code"
    REVIEW_DUAL_REPORTS = "review_dual_reports"
    REGISTER_DUAL_REPORT = "register_dual_report"
    CHOOSE_POSTS = "choose_posts"
    BIND = "bind"
    REDEEM_CODE = "redeem_code"
    BROADCAST = "broadcast"
    LISTEN_VOICE_MESSAGES = "listen_voice_messages"
    READ_STUDY = "read_study"
    ADD_STUDY = "add_study"
    VIEW_OWN_POINTS = "view_own_points"
    KEEP_RECORDS = "keep_records"
    CALL_MEETINGS = "call_meetings"
    VIEW_OWN_DUES = "view_own_dues"
    RECORD_DUES = "record_dues"
    MANAGE_MOBILE = "manage_mobile"
    REGISTER_INCOMING = "register_incoming"
    FILE_REQUEST = "file_request"
    HANDLE_REQUESTS = "handle_requests"
    REQUEST_STATS = "request_stats"
    SUGGEST = "suggest"
    ANSWER_SUGGESTIONS = "answer_suggestions"
    USE_CONSOLE = "use_console"
    IMPORT_DATA = "import_data"
    READ_AUDIT = "read_audit"


# Which roles may take each action; actions on other people's data are further limited by `scope`.
ALLOWED: dict[Action, frozenset[Role]] = {
    Action.VIEW_OWN_RECORD: frozenset({Role.MEMBER}),
    Action.CHOOSE_POSTS: frozenset({Role.MEMBER}),
    Action.SET_OWN_PREFERENCES: frozenset({Role.MEMBER}),
    Action.LIST_MEMBERS: frozenset({Role.GROUP_LEADER, Role.COMMITTEE, Role.SECRETARY, Role.ADMIN}),
    Action.APPROVE_BINDING: frozenset({Role.SECRETARY, Role.ADMIN}),
    Action.ISSUE_BIND_CODE: frozenset({Role.SECRETARY, Role.ADMIN}),
    Action.REVIEW_DUAL_REPORTS: frozenset({Role.SECRETARY, Role.ADMIN}),
    Action.REGISTER_DUAL_REPORT: frozenset({Role.RESIDENT}),
    # 党员绑定 (the guide, name + phone-tail requests) is for people not bound as members; a code or a
    # personal QR code anyone may redeem: a member given a grid worker's code, a grid worker a member's.
    Action.BIND: frozenset({Role.RESIDENT, Role.GRID_WORKER}),
    Action.REDEEM_CODE: frozenset({Role.RESIDENT, Role.MEMBER, Role.GRID_WORKER, Role.ADMIN}),
    # 公告: a secretary to their subtree, a group leader to their group, an admin to everyone.
    Action.BROADCAST: frozenset({Role.SECRETARY, Role.GROUP_LEADER, Role.ADMIN}),
    # 听留言: the members' voice messages nobody understood, kept with their consent, for their secretary.
    Action.LISTEN_VOICE_MESSAGES: frozenset({Role.SECRETARY, Role.ADMIN}),
    # 学习园地: members read (an admin too, everything); a secretary adds a forwarded article for their unit.
    Action.READ_STUDY: frozenset({Role.MEMBER, Role.ADMIN}),
    Action.ADD_STUDY: frozenset({Role.SECRETARY, Role.ADMIN}),
    # 积分: a member's own points and their branch's ranking (others' names masked).
    Action.VIEW_OWN_POINTS: frozenset({Role.MEMBER}),
    # 纪实 (the record of a meeting, with photos) and 发起活动 (a meeting of 三会一课), for their own unit.
    Action.KEEP_RECORDS: frozenset({Role.SECRETARY, Role.ADMIN}),
    Action.CALL_MEETINGS: frozenset({Role.SECRETARY, Role.ADMIN}),
    # 党费: a member their own dues, 已交 and base; a secretary records payments, bases, reductions and reads
    # the collection of their subtree.
    Action.VIEW_OWN_DUES: frozenset({Role.MEMBER}),
    Action.RECORD_DUES: frozenset({Role.SECRETARY, Role.ADMIN}),
    # 流动党员: 流动登记, 流动结束, the 流动党员 list, 流入确认 / 流入退回, for their subtree.
    Action.MANAGE_MOBILE: frozenset({Role.SECRETARY, Role.ADMIN}),
    # 流入登记: a member of another place's organisation, not bound here.
    Action.REGISTER_INCOMING: frozenset({Role.RESIDENT}),
    # 党员建议: a member files one for their branch; a secretary answers those of their subtree's branches.
    Action.SUGGEST: frozenset({Role.MEMBER}),
    Action.ANSWER_SUGGESTIONS: frozenset({Role.SECRETARY, Role.ADMIN}),
    # 居民诉求: anyone files one (a grid worker for a resident) and rates their own tickets.
    Action.FILE_REQUEST: frozenset(Role),
    # 接单, 进展, 转派, 复杂, 办结, 待办, 电话: a grid worker their grid's tickets; a member holding a
    # category's volunteer post, a 委员 or a secretary their branch's / unit's (bot.domain.requests decides).
    Action.HANDLE_REQUESTS: frozenset(
        {Role.GRID_WORKER, Role.MEMBER, Role.COMMITTEE, Role.SECRETARY, Role.ADMIN}
    ),
    # 诉求统计: the three rates of their subtree (a 委员 their branch's), month by month.
    Action.REQUEST_STATS: frozenset({Role.SECRETARY, Role.COMMITTEE, Role.ADMIN}),
    # The web console (bot/console): staff only; each of its pages asks for the action it shows.
    Action.USE_CONSOLE: frozenset({Role.SECRETARY, Role.COMMITTEE, Role.GRID_WORKER, Role.ADMIN}),
    # The org tree, roster and staff files (the console's imports page, like `partybot import`): the whole
    # tree changes, so the street office's administrator only.
    Action.IMPORT_DATA: frozenset({Role.ADMIN}),
    # The audit log of staff reading and exporting personal data: the administrator.
    Action.READ_AUDIT: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is writing, resolved from their binding (bot.domain.identity)."""

    openid: str
    roles: frozenset[Role] = frozenset({Role.RESIDENT})
    member_id: int | None = None
    member_number: str | None = None
    name: str | None = None
    unit_path: str | None = None  # the member's unit (所在组织)
    branch_path: str | None = None  # the nearest 网格党支部 at or above unit_path (else unit_path)
    staff_id: int | None = None
    staff_unit_path: str | None = None  # a grid worker's grid
    dual_report_id: int | None = None  # an in-service member confirmed through 双报到
    # What else decides which menu items apply to them (content/menus.yaml `only:`): "mobile" (流动党员).
    traits: frozenset[str] = frozenset()

    @property
    def role(self) -> str:
        """The highest role: decides the menu."""
        for role in MENU_ORDER:
            if role in self.roles:
                return role.value
        return Role.RESIDENT.value

    @property
    def is_member(self) -> bool:
        return Role.MEMBER in self.roles


def roles_for(*, member_post: str | None, is_member: bool, is_staff: bool, is_admin: bool) -> frozenset[Role]:
    roles: set[Role] = set()
    if is_member:
        roles.add(Role.MEMBER)
        post_role = POST_ROLES.get(member_post or "")
        if post_role is not None:
            roles.add(post_role)
    if is_staff:
        roles.add(Role.GRID_WORKER)
    if is_admin:
        roles.add(Role.ADMIN)
    if not roles:
        roles.add(Role.RESIDENT)
    return frozenset(roles)


def may(identity: Identity, action: Action) -> bool:
    return bool(identity.roles & ALLOWED[action])


def scope(identity: Identity, action: Action) -> str | None:
    """The unit path under which `identity` may take `action` on other people's data: "" means every
    unit (admin), None means nowhere.

    A committee member (委员) sits on their branch's committee wherever the roster puts them (often a
    楼栋党小组): their scope is the branch, the nearest 网格党支部 at or above their unit (their own unit
    when none is above, e.g. a 社区党委委员). A secretary's scope stays their own unit: a 书记 or 副书记 is
    listed on the unit they lead, and one listed on a group is a roster error that must not widen what they
    may do. Everyone else acts on their own unit."""
    if not may(identity, action):
        return None
    if Role.ADMIN in identity.roles:
        return ""
    if Role.COMMITTEE in identity.roles:
        return identity.branch_path or identity.unit_path
    return identity.unit_path


def within(path: str, scope_path: str | None) -> bool:
    """Whether a unit path lies in a scope (the scope unit itself or below it)."""
    if scope_path is None:
        return False
    return scope_path == "" or path == scope_path or path.startswith(scope_path + "/")
