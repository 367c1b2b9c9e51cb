"""Chinese names and short texts for the synthetic bank: firms, counterparties, summaries.

Every builder is vectorised: it picks words by index from small vocabularies and joins
them with numpy object-array arithmetic, so building a million names is one pass in C.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Strings = npt.NDArray[np.object_]

#: First and second characters of trade names (字号).
_TRADE_FIRST = tuple(
    "恒华鼎宏金永瑞博天海鑫广新同安汇嘉中远盛泰兴隆万达振丰诚信德正启明东方通和"
    "美佳源润宝祥福弘凯晟俊卓锦富优益联合创亿科"
)
_TRADE_SECOND = tuple(
    "瑞盛信远泰达丰通源成昌兴业发隆辉盈祥和润宝德利华联创新达康宇峰辰川晖耀晨"
    "阳安诚翔鹏腾达驰凯锐邦骏越捷恒茂鑫力勤"
)

#: Industry words by GB/T 4754 division prefix (section letter + two digits).
INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "A01": ("农业发展", "生态农业", "农业科技"), "B06": ("矿业", "煤业"),
    "C13": ("粮油食品", "食品"), "C17": ("纺织", "棉纺"), "C18": ("服饰", "制衣"),
    "C26": ("化工", "新材料"), "C27": ("生物医药", "制药", "药业"),
    "C29": ("塑胶制品", "塑业"), "C30": ("建材", "水泥制品"), "C33": ("金属制品", "钢结构"),
    "C34": ("精密机械", "机械制造", "通用设备"), "C35": ("智能装备", "专用设备"),
    "C36": ("汽车零部件", "汽配"), "C38": ("电气", "电器", "新能源科技"),
    "C39": ("电子科技", "微电子", "通信设备"), "D44": ("新能源", "电力", "热电"),
    "E47": ("建设", "建筑工程"), "E48": ("路桥工程", "市政工程"),
    "F51": ("商贸", "贸易", "供应链管理", "进出口"), "F52": ("百货", "超市", "商行"),
    "G54": ("物流", "运输"), "G59": ("仓储物流", "物流"), "H61": ("酒店管理", "宾馆"),
    "H62": ("餐饮管理", "餐饮"), "I63": ("通信技术", "信息技术"),
    "I64": ("网络科技", "互联网科技"), "I65": ("软件", "信息技术", "数据科技"),
    "K70": ("房地产开发", "置业"), "L72": ("商务咨询", "企业管理"),
    "M73": ("生物科技", "新材料研究院"), "M75": ("科技服务", "技术推广"),
    "N77": ("环保科技", "环境工程"), "N78": ("市政设施管理", "园林绿化"),
    "O80": ("家政服务", "便民服务"), "O81": ("汽车维修", "家电维修"),
    "Q84": ("医疗", "健康管理"), "R87": ("文化传媒", "影视文化"),
}

#: Transaction summary texts (摘要) by flow type.
SUMMARIES: dict[str, tuple[str, ...]] = {
    "customer_in": ("货款", "销售回款", "收款", "服务费", "工程款"),
    "supplier_out": ("采购款", "货款", "材料款", "设备款", "运费"),
    "payroll": ("工资", "代发工资", "社保"),
    "tax": ("税费", "增值税", "企业所得税"),
    "loan_service": ("还款", "贷款利息", "贷款本息"),
    "other_out": ("房租", "水电费", "手续费", "往来款"),
    "other_in": ("往来款", "退款", "政府补贴"),
}

_BANKS = ("中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "交通银行", "招商银行",
          "兴业银行", "浦发银行")
_SUPPLY_WORDS = ("物业管理", "电力", "燃气", "物流", "广告", "商务咨询")


def pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> Strings:
    """``n`` words drawn uniformly from ``words``."""
    return np.asarray(words, dtype=object)[rng.integers(0, len(words), n)]


def trade_names(rng: np.random.Generator, n: int) -> Strings:
    """``n`` two-character trade names (字号) such as 恒瑞 or 鼎信."""
    return pick(rng, _TRADE_FIRST, n) + pick(rng, _TRADE_SECOND, n)


def industry_words(rng: np.random.Generator, industry_codes: npt.ArrayLike) -> Strings:
    """An industry word such as 精密机械 for each GB/T 4754 code."""
    div = np.asarray(industry_codes, dtype=str).astype("<U3")
    out = np.full(div.size, "实业", dtype=object)
    for prefix in np.unique(div):
        mask = div == prefix
        words = INDUSTRY_WORDS.get(str(prefix), ("实业", "发展"))
        out[mask] = pick(rng, words, int(mask.sum()))
    return out


def firm_names(
    rng: np.random.Generator,
    cities: npt.ArrayLike,
    industry_codes: npt.ArrayLike,
    joint_stock: npt.NDArray[np.bool_],
) -> Strings:
    """Registered names: city + 字号 + industry word + legal form.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> name = firm_names(rng, ["苏州"], ["C3411"], np.array([False]))[0]
    >>> name.startswith("苏州") and name.endswith("有限公司")
    True
    """
    city = np.asarray(cities, dtype=object)
    form = np.where(joint_stock, "股份有限公司", "有限公司").astype(object)
    return city + trade_names(rng, city.size) + industry_words(rng, industry_codes) + form


def counterparty_pool(rng: np.random.Generator, cities: tuple[str, ...], size: int) -> Strings:
    """A pool of customer and supplier names shared by all firms' counterparties."""
    codes = np.asarray(list(INDUSTRY_WORDS), dtype=object)[
        rng.integers(0, len(INDUSTRY_WORDS), size)
    ]
    return firm_names(rng, pick(rng, cities, size), codes, rng.random(size) < 0.1)


def bank_names(cities: npt.ArrayLike, which: npt.NDArray[np.int64]) -> Strings:
    """Branch names of other banks (for loan service flows)."""
    return np.asarray(_BANKS, dtype=object)[which % len(_BANKS)] + np.asarray(
        cities, dtype=object
    ) + "分行"


def tax_office_names(cities: npt.ArrayLike) -> Strings:
    """City tax bureau names (税务局)."""
    return np.asarray("国家税务总局" + np.asarray(cities, dtype=object) + "市税务局", dtype=object)


def service_provider_names(cities: npt.ArrayLike, which: npt.NDArray[np.int64]) -> Strings:
    """Utilities and service providers (rent, power, logistics)."""
    return np.asarray(cities, dtype=object) + "市" + np.asarray(_SUPPLY_WORDS, dtype=object)[
        which % len(_SUPPLY_WORDS)
    ] + "有限公司"
