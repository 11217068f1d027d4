"""The console's own texts in English and Simplified Chinese (staff-facing; patient texts live in
conversations/locales). Templates call t("key")."""
from __future__ import annotations

from conversations.i18n import resolve_locale

LANGUAGES = {"en": "English", "zh": "简体中文"}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "app.title": "acnebot staff console",
        "nav.patients": "Patients", "nav.audit": "Audit log", "nav.logout": "Log out", "nav.signed_in": "Signed in as",
        "login.title": "Staff sign-in", "login.username": "Username", "login.password": "Password",
        "login.submit": "Sign in", "login.failed": "Wrong username or password.",
        "login.locked": "Too many failed sign-ins. Try again in a few minutes.",
        "login.expired": "Your form expired; please sign in again.",
        "patients.title": "Patients", "patients.channel": "Channel", "patients.any": "Any",
        "patients.handle": "Name or handle", "patients.from": "First contact from", "patients.to": "to",
        "patients.grade": "Latest grade", "patients.doctor": "Needs a doctor", "patients.search": "Search",
        "patients.reset": "Clear", "patients.found": "{n} patients", "patients.none": "No patient matches.",
        "patients.id": "ID", "patients.since": "First contact", "patients.checkins": "Check-ins",
        "patients.last": "Last check-in", "patients.prev": "Previous", "patients.next": "Next",
        "patients.page": "Page {page} of {pages}",
        "patient.title": "Patient {id}", "patient.profile": "Profile answers", "patient.no_profile": "No answers yet.",
        "patient.reminder": "Reminder schedule", "patient.no_reminder": "No reminder set.",
        "patient.cadence": "Cadence", "patient.time": "Time of day", "patient.next_due": "Next reminder",
        "patient.state": "State", "patient.timezone": "Time zone", "patient.locale": "Language",
        "patient.consent": "Consent", "patient.checkins": "Check-ins", "patient.no_checkins": "No check-ins yet.",
        "patient.trend": "Trend", "patient.score": "Score", "patient.grade": "Grade", "patient.date": "Date",
        "patient.referral": "Doctor advised", "patient.region": "Region", "patient.not_assessed": "not assessed",
        "patient.why.turned_away": "head turned too far", "patient.why.not_visible": "too little skin showing",
        "patient.why.no_photo": "no photo of it",
        "patient.annotated": "Annotated photo", "patient.transcript": "Transcript",
        "patient.delete": "Delete this patient's data", "patient.model": "Model",
        "transcript.title": "Transcript of patient {id}", "transcript.in": "Patient", "transcript.out": "Bot",
        "transcript.empty": "No messages.", "transcript.photo": "Photo", "transcript.back": "Back to the patient",
        "transcript.back_transcript": "Back to the transcript",
        "delete.title": "Delete patient {id}",
        "delete.warning": "This deletes the patient, their photos, check-ins, messages and reminders for good.",
        "delete.confirm": "Type the patient id ({id}) to confirm", "delete.submit": "Delete for good",
        "delete.mismatch": "The id you typed does not match.", "delete.done": "Patient {id} was deleted.",
        "audit.title": "Audit log", "audit.when": "When (UTC)", "audit.who": "Staff", "audit.action": "Action",
        "audit.subject": "Patient", "audit.detail": "Detail", "audit.empty": "Nothing recorded yet.",
        "error.forbidden": "You may not do this.", "error.not_found": "Not found.", "error.title": "Error",
        "nav.handovers": "Handovers",
        "handovers.title": "Handovers: patients who asked for a person",
        "handovers.empty": "Nobody is waiting for a person.", "handovers.opened": "asked",
        "handovers.no_checkin": "no check-in yet", "handovers.open": "waiting",
        "handovers.taken_by": "taken by {name}", "handovers.you": "you", "handovers.take": "Take",
        "handovers.view": "Open", "handovers.already_taken": "Already taken by {name}.",
        "handovers.already_closed": "That handover was closed meanwhile.",
        "handovers.closed": "Handover {id} closed; the patient was told.",
        "handovers.closed_undeliverable": "Handover {id} closed, but the patient's chat cannot be reached: "
                                          "the notice cannot be delivered.",
        "handover.title": "Handover {id}", "handover.back": "Back to the queue", "handover.close": "Close",
        "handover.closed": "closed", "handover.reply": "Your reply (the patient sees it in their chat)",
        "handover.send": "Send", "handover.live": "New messages from the patient appear here as they arrive.",
        "handover.closed_live": "The handover was closed; the patient is back with the bot.",
        "handover.take_first": "Take this handover in the queue to reply.",
        "handover.not_yours": "Only the staff member who took this handover may reply to or close it.",
        "handover.no_delivery": "Replies cannot be sent from this console: it is not connected to the messengers.",
        "handover.delivered": "Delivered to the patient.",
        "handover.undeliverable": "Cannot be delivered: the patient's chat cannot be reached now (WeChat: "
                                  "no message from them in the last 48 hours; Telegram: the bot was blocked). "
                                  "The reply is kept in the transcript.",
        "handover.failed": "Delivery failed for now; try again.", "handover.empty": "Write a reply first.",
        "transcript.staff": "Staff",
        "yes": "yes", "no": "no",
    },
    "zh": {
        "app.title": "acnebot 员工控制台",
        "nav.patients": "患者", "nav.audit": "审计日志", "nav.logout": "退出", "nav.signed_in": "当前用户",
        "login.title": "员工登录", "login.username": "用户名", "login.password": "密码",
        "login.submit": "登录", "login.failed": "用户名或密码错误。",
        "login.locked": "登录失败次数过多，请几分钟后再试。",
        "login.expired": "表单已过期，请重新登录。",
        "patients.title": "患者", "patients.channel": "渠道", "patients.any": "全部",
        "patients.handle": "名称或账号", "patients.from": "首次联系自", "patients.to": "至",
        "patients.grade": "最近分级", "patients.doctor": "需要就医", "patients.search": "搜索",
        "patients.reset": "清除", "patients.found": "共 {n} 位患者", "patients.none": "没有符合条件的患者。",
        "patients.id": "编号", "patients.since": "首次联系", "patients.checkins": "自查次数",
        "patients.last": "最近自查", "patients.prev": "上一页", "patients.next": "下一页",
        "patients.page": "第 {page} / {pages} 页",
        "patient.title": "患者 {id}", "patient.profile": "问卷回答", "patient.no_profile": "尚无回答。",
        "patient.reminder": "提醒安排", "patient.no_reminder": "未设置提醒。",
        "patient.cadence": "频率", "patient.time": "时间", "patient.next_due": "下次提醒",
        "patient.state": "状态", "patient.timezone": "时区", "patient.locale": "语言",
        "patient.consent": "同意", "patient.checkins": "自查记录", "patient.no_checkins": "尚无自查记录。",
        "patient.trend": "趋势", "patient.score": "评分", "patient.grade": "分级", "patient.date": "日期",
        "patient.referral": "建议就医", "patient.region": "部位", "patient.not_assessed": "未评估",
        "patient.why.turned_away": "头部转得太偏", "patient.why.not_visible": "露出的皮肤太少",
        "patient.why.no_photo": "没有该部位的照片",
        "patient.annotated": "标注照片", "patient.transcript": "对话记录",
        "patient.delete": "删除该患者的数据", "patient.model": "模型",
        "transcript.title": "患者 {id} 的对话记录", "transcript.in": "患者", "transcript.out": "机器人",
        "transcript.empty": "没有消息。", "transcript.photo": "照片", "transcript.back": "返回患者页面",
        "transcript.back_transcript": "返回对话记录",
        "delete.title": "删除患者 {id}",
        "delete.warning": "此操作将永久删除该患者及其照片、自查记录、消息和提醒。",
        "delete.confirm": "请输入患者编号（{id}）以确认", "delete.submit": "永久删除",
        "delete.mismatch": "输入的编号不一致。", "delete.done": "患者 {id} 已删除。",
        "audit.title": "审计日志", "audit.when": "时间 (UTC)", "audit.who": "员工", "audit.action": "操作",
        "audit.subject": "患者", "audit.detail": "详情", "audit.empty": "暂无记录。",
        "error.forbidden": "您无权执行此操作。", "error.not_found": "未找到。", "error.title": "错误",
        "nav.handovers": "人工转接",
        "handovers.title": "人工转接：请求人工服务的患者",
        "handovers.empty": "目前没有等待人工服务的患者。", "handovers.opened": "请求于",
        "handovers.no_checkin": "尚无自查", "handovers.open": "等待中",
        "handovers.taken_by": "由 {name} 接手", "handovers.you": "您", "handovers.take": "接手",
        "handovers.view": "打开", "handovers.already_taken": "已由 {name} 接手。",
        "handovers.already_closed": "该转接已被关闭。",
        "handovers.closed": "转接 {id} 已关闭，已通知患者。",
        "handovers.closed_undeliverable": "转接 {id} 已关闭，但无法联系到患者：通知无法送达。",
        "handover.title": "转接 {id}", "handover.back": "返回队列", "handover.close": "关闭",
        "handover.closed": "已关闭", "handover.reply": "您的回复（患者会在其聊天中看到）",
        "handover.send": "发送", "handover.live": "患者的新消息会实时显示在这里。",
        "handover.closed_live": "转接已关闭，患者已回到机器人。",
        "handover.take_first": "请先在队列中接手此转接，然后再回复。",
        "handover.not_yours": "只有接手此转接的员工可以回复或关闭。",
        "handover.no_delivery": "此控制台未连接消息渠道，无法发送回复。",
        "handover.delivered": "已送达患者。",
        "handover.undeliverable": "无法送达：目前无法联系到患者（微信：患者 48 小时内没有发消息；Telegram：机器人已被屏蔽）。"
                                  "回复已保存在对话记录中。",
        "handover.failed": "暂时发送失败，请重试。", "handover.empty": "请先填写回复。",
        "transcript.staff": "员工",
        "yes": "是", "no": "否",
    },
}


def translate(locale: str, key: str, **values: object) -> str:
    text = TEXTS.get(locale, TEXTS["en"]).get(key) or TEXTS["en"].get(key, key)
    return text.format(**values) if values else text


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language the staff member chose (cookie), else the first of Accept-Language we have, else English."""
    if cookie in LANGUAGES:
        return cookie
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        language = tag.split("-")[0].split("_")[0].lower()
        if language in LANGUAGES:
            return resolve_locale(tag)
    return "en"
