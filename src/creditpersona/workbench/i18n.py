"""Labels of the workbench in Chinese (the default) and English.

Every text a page shows by itself (not data) is a key here; templates call ``t("key")``.
A key missing in one language is a bug that :func:`check_complete` (run by the tests)
catches, so a page never shows a raw key.
"""

from __future__ import annotations

#: Languages offered, the first is the default.
LANGUAGES = ("zh", "en")
#: Cookie that remembers the chosen language.
LANG_COOKIE = "cp_lang"

#: key -> (Chinese, English)
LABELS: dict[str, tuple[str, str]] = {
    "app": ("客户性格工作台", "CreditPersona workbench"),
    "switch_lang": ("English", "中文"),
    "signin": ("登录", "Sign in"),
    "signout": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "signin_failed": ("用户名或密码不正确，或尝试过多，请稍后再试。",
                      "Wrong username or password, or too many attempts; try again later."),
    "signed_out": ("您已退出。", "You have signed out."),
    "session_ended": ("会话已结束，请重新登录。", "Your session has ended; please sign in again."),
    "csrf_failed": ("表单已过期，请刷新页面后重试。",
                    "The form has expired; reload the page and try again."),
    "role_rm": ("客户经理", "Relationship manager"),
    "role_credit_officer": ("信贷审批", "Credit officer"),
    "role_risk_manager": ("风险管理", "Risk manager"),
    "role_admin": ("系统管理员", "Administrator"),
    "nav_myday": ("我的一天", "My day"),
    "nav_search": ("客户查询", "Firms"),
    "nav_quote": ("报价", "Quote"),
    "nav_watchlist": ("预警名单", "Watch-list"),
    "nav_portfolio": ("组合", "Portfolio"),
    "nav_admin": ("管理", "Admin"),
    "search": ("查询", "Search"),
    "search_hint": ("名称、简称或统一社会信用代码", "Name, short name or USCC"),
    "no_results": ("没有结果。", "Nothing found."),
    "firm": ("企业", "Firm"),
    "firms": ("企业", "Firms"),
    "uscc": ("统一社会信用代码", "USCC"),
    "industry": ("行业", "Industry"),
    "size_class": ("规模", "Size class"),
    "rm": ("客户经理", "RM"),
    "persona": ("客户性格", "Persona"),
    "grade": ("评级", "Grade"),
    "pd": ("违约概率", "PD"),
    "watch": ("预警", "Watch"),
    "level": ("级别", "Level"),
    "best_offer": ("本季最佳产品", "Best offer this quarter"),
    "offers": ("推荐产品", "Offers"),
    "my_customers": ("我的客户", "My customers"),
    "campaign": ("营销名单", "Campaign list"),
    "channel": ("渠道", "Channel"),
    "talking_points": ("沟通要点", "Talking points"),
    "record_outcome": ("记录结果", "Record outcome"),
    "contacted": ("已联系", "Contacted"),
    "interested": ("有意向", "Interested"),
    "declined": ("已拒绝", "Declined"),
    "taken": ("已办理", "Taken"),
    "amount": ("金额", "Amount"),
    "amount_wan": ("金额（万元）", "Amount (10k CNY)"),
    "outcome_saved": ("已记录", "Recorded"),
    "product": ("产品", "Product"),
    "term_months": ("期限（月）", "Term (months)"),
    "collateral": ("抵押物", "Collateral"),
    "default_collateral": ("产品默认", "Product default"),
    "guarantee": ("保证", "Guarantee"),
    "none": ("无", "None"),
    "price": ("定价", "Price"),
    "rate": ("利率", "Rate"),
    "raroc": ("RAROC", "RAROC"),
    "waterfall": ("定价瀑布", "Price waterfall"),
    "floor_adjustment": ("利率下限调整", "Floor adjustment"),
    "hurdle": ("门槛收益率", "Hurdle rate"),
    "spread": ("加点（基点）", "Spread (bp)"),
    "below_hurdle": ("低于门槛", "Below hurdle"),
    "declined_price": ("不予报价", "Declined"),
    "monitoring": ("贷后监控", "Monitoring plan"),
    "next_review": ("下次检查", "Next review"),
    "actions": ("措施", "Actions"),
    "text_risk": ("文本风险分", "Text-risk score"),
    "events": ("事件", "Events"),
    "source": ("来源", "Source"),
    "confidence": ("置信度", "Confidence"),
    "challenger": ("挑战者模型", "Challenger model"),
    "capacity": ("测算能力", "Capacity"),
    "employees": ("员工人数", "Employees"),
    "region": ("地区", "Region"),
    "founded": ("成立日期", "Founded"),
    "points": ("分值", "Points"),
    "hits": ("条信号", "hits"),
    "dpd": ("逾期天数", "Days past due"),
    "start": ("起始日", "Start"),
    "maturity": ("到期日", "Maturity"),
    "outstanding": ("余额", "Outstanding"),
    "term": ("期限", "Term"),
    "expected_value": ("预期价值", "Expected value"),
    "p_accept": ("接受概率", "P(accept)"),
    "only_co": ("仅信贷审批可调整评级。", "Only credit officers may override a grade."),
    "quote_hint": ("选择企业与条件，报价即时更新。",
                   "Pick a firm and terms; the quote updates as you type."),
    "profile": ("五维画像", "Profile"),
    "drivers": ("驱动因素", "Drivers"),
    "why_persona": ("归类原因（该客户性格的判别规则）", "Why this persona (its rules)"),
    "purity": ("纯度", "purity"),
    "reasons": ("主要原因", "Top reasons"),
    "limits": ("额度", "Limits"),
    "binding": ("约束条件", "Binding constraint"),
    "prices": ("各产品定价", "Price per product"),
    "five_tier": ("五级分类", "Five-tier class"),
    "warnings": ("预警信号", "Warning hits"),
    "documents": ("风险文书", "Risk documents"),
    "loans": ("贷款与还款", "Loans and repayments"),
    "repayments": ("还款记录", "Repayments"),
    "due_date": ("应还日", "Due"),
    "paid_date": ("实还日", "Paid"),
    "amount_due": ("应还金额", "Amount due"),
    "amount_paid": ("实还金额", "Amount paid"),
    "repayments_shown": ("截至评估日应还{total}期，显示最近{shown}期；其后还有{upcoming}期未到期。",
                         "{total} instalments due by the as-of date, the latest {shown} shown; "
                         "{upcoming} more fall due later."),
    "repayments_all": ("截至评估日应还{total}期，全部显示；其后还有{upcoming}期未到期。",
                       "{total} instalments due by the as-of date, all shown; {upcoming} more "
                       "fall due later."),
    "rep_paid": ("按时还款", "Paid on time"),
    "rep_paid_late": ("逾期后还款", "Paid late"),
    "rep_overdue": ("逾期未还", "Overdue, unpaid"),
    "rep_due": ("当日到期", "Due on the as-of date"),
    "override": ("评级调整", "Rating override"),
    "override_grade": ("调整后评级", "Overriding grade"),
    "reason": ("原因", "Reason"),
    "save": ("保存", "Save"),
    "saved": ("已保存", "Saved"),
    "model_grade": ("模型评级", "Model grade"),
    "overridden": ("已调整", "Overridden"),
    "filters": ("筛选", "Filters"),
    "all": ("全部", "All"),
    "apply": ("应用", "Apply"),
    "state": ("状态", "State"),
    "assignee": ("负责人", "Assignee"),
    "note": ("备注", "Note"),
    "history": ("历史", "History"),
    "case_open": ("开立", "Open"),
    "case_acknowledged": ("已确认", "Acknowledged"),
    "case_action_taken": ("已采取措施", "Action taken"),
    "case_closed": ("已关闭", "Closed"),
    "case_none": ("未立案", "No case"),
    "case_new": ("未立案", "Not opened"),
    "open_case": ("立案", "Open a case"),
    "opened_at": ("立案时间", "Opened"),
    "next_step": ("下一步", "Next step"),
    "persona_mix": ("客户性格构成", "Persona mix"),
    "grade_dist": ("评级分布", "Grade distribution"),
    "migration": ("迁移", "Migration"),
    "triggers": ("触发条件", "Triggers of the last review"),
    "industry_flags": ("行业预警占比", "Watch-list share by industry"),
    "trigger": ("触发条件", "Trigger"),
    "model": ("模型", "Model"),
    "threshold": ("阈值", "Threshold"),
    "recommendation": ("建议", "Recommendation"),
    "watch_counts": ("预警名单数量", "Watch-list counts"),
    "open_cases": ("未结案件", "Open cases"),
    "users": ("用户与角色", "Users and roles"),
    "role": ("角色", "Role"),
    "active": ("启用", "Active"),
    "audit": ("审计日志", "Audit trail"),
    "when": ("时间", "When"),
    "who": ("用户", "Who"),
    "what": ("操作", "What"),
    "from_where": ("来源", "From"),
    "since": ("起始日期", "Since"),
    "not_found": ("页面或企业不存在。", "That page or firm does not exist."),
    "forbidden": ("您的角色无权访问此页面。", "Your role may not open this page."),
    "error": ("出错了", "Something went wrong"),
    "back_home": ("返回首页", "Back to the start page"),
    "as_of": ("数据日期", "As of"),
    "load_time": ("页面加载", "Page load"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "count": ("数量", "Count"),
    "share": ("占比", "Share"),
    "value": ("数值", "Value"),
    "date": ("日期", "Date"),
    "status": ("状态", "Status"),
    "balance": ("余额", "Balance"),
    "name": ("名称", "Name"),
}


def translate(key: str, lang: str) -> str:
    """The label ``key`` in ``lang`` (``zh`` or ``en``).

    Raises
    ------
    KeyError
        If ``key`` is not a label: a template asks for a text nobody wrote.

    Examples
    --------
    >>> translate("signin", "zh"), translate("signin", "en")
    ('登录', 'Sign in')
    """
    zh, en = LABELS[key]
    return en if lang == "en" else zh


def pick_language(value: str | None) -> str:
    """The language a cookie or query asks for, the default for anything else.

    Examples
    --------
    >>> pick_language("en"), pick_language(None), pick_language("fr")
    ('en', 'zh', 'zh')
    """
    return value if value in LANGUAGES else LANGUAGES[0]


def check_complete() -> list[str]:
    """Keys whose Chinese or English text is empty (should be none).

    Examples
    --------
    >>> check_complete()
    []
    """
    return [k for k, (zh, en) in LABELS.items() if not zh.strip() or not en.strip()]
