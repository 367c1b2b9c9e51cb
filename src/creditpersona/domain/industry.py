"""GB/T 4754-2017 industry classification 国民经济行业分类.

Industry codes in the data contract are a section letter followed by the two-digit division
and optionally the group and class digits: ``C38``, ``C381`` or ``C3811``; ``K7010`` names
real-estate development. A code is known when its division exists and belongs to the section
its letter names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True)
class Section:
    """One GB/T 4754 section: its letter, divisions and names."""

    letter: str
    first_division: int
    last_division: int
    zh: str
    en: str


SECTIONS: tuple[Section, ...] = (
    Section("A", 1, 5, "农、林、牧、渔业", "Agriculture, forestry, animal husbandry & fishery"),
    Section("B", 6, 12, "采矿业", "Mining"),
    Section("C", 13, 43, "制造业", "Manufacturing"),
    Section("D", 44, 46, "电力、热力、燃气及水生产和供应业", "Utilities"),
    Section("E", 47, 50, "建筑业", "Construction"),
    Section("F", 51, 52, "批发和零售业", "Wholesale & retail"),
    Section("G", 53, 60, "交通运输、仓储和邮政业", "Transport, storage & post"),
    Section("H", 61, 62, "住宿和餐饮业", "Accommodation & catering"),
    Section("I", 63, 65, "信息传输、软件和信息技术服务业", "Information & software services"),
    Section("J", 66, 69, "金融业", "Finance"),
    Section("K", 70, 70, "房地产业", "Real estate"),
    Section("L", 71, 72, "租赁和商务服务业", "Leasing & business services"),
    Section("M", 73, 75, "科学研究和技术服务业", "Research & technical services"),
    Section("N", 76, 79, "水利、环境和公共设施管理业", "Water, environment & public facilities"),
    Section("O", 80, 82, "居民服务、修理和其他服务业", "Resident services & repair"),
    Section("P", 83, 83, "教育", "Education"),
    Section("Q", 84, 85, "卫生和社会工作", "Health & social work"),
    Section("R", 86, 90, "文化、体育和娱乐业", "Culture, sports & entertainment"),
    Section("S", 91, 96, "公共管理、社会保障和社会组织", "Public administration"),
    Section("T", 97, 97, "国际组织", "International organisations"),
)
SECTION_BY_LETTER = {s.letter: s for s in SECTIONS}

#: Regular expression every industry code must match (before the division check).
CODE_PATTERN = r"^[A-T][0-9]{2}([0-9]{1,2})?$"
_CODE_RE = re.compile(CODE_PATTERN)

#: (section letter, division) pairs that exist, for vectorised membership checks.
VALID_PREFIXES: frozenset[str] = frozenset(
    f"{s.letter}{d:02d}" for s in SECTIONS for d in range(s.first_division, s.last_division + 1)
)

#: Chinese names of the divisions the synthetic bank uses, for readable labels.
DIVISION_NAMES: dict[str, str] = {
    "A01": "农业", "A03": "畜牧业", "B06": "煤炭开采和洗选业", "C13": "农副食品加工业",
    "C17": "纺织业", "C18": "纺织服装、服饰业", "C26": "化学原料和化学制品制造业",
    "C27": "医药制造业", "C29": "橡胶和塑料制品业", "C30": "非金属矿物制品业",
    "C33": "金属制品业", "C34": "通用设备制造业", "C35": "专用设备制造业",
    "C36": "汽车制造业", "C38": "电气机械和器材制造业",
    "C39": "计算机、通信和其他电子设备制造业", "D44": "电力、热力生产和供应业",
    "E47": "房屋建筑业", "E48": "土木工程建筑业", "F51": "批发业", "F52": "零售业",
    "G54": "道路运输业", "G59": "装卸搬运和仓储业", "H61": "住宿业", "H62": "餐饮业",
    "I63": "电信、广播电视和卫星传输服务", "I64": "互联网和相关服务",
    "I65": "软件和信息技术服务业", "K70": "房地产业", "L72": "商务服务业",
    "M73": "研究和试验发展", "M75": "科技推广和应用服务业", "N77": "生态保护和环境治理业",
    "Q84": "卫生", "R87": "广播、电视、电影和录音制作业",
}


def is_known(code: object) -> bool:
    """Tell whether ``code`` is a GB/T 4754-2017 code whose division matches its section.

    Examples
    --------
    >>> is_known("C3811"), is_known("K7010"), is_known("C51"), is_known("Z99")
    (True, True, False, False)
    """
    return isinstance(code, str) and bool(_CODE_RE.match(code)) and code[:3] in VALID_PREFIXES


def section_of(codes: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Section letters of industry codes (``None`` where a code is unknown).

    Examples
    --------
    >>> section_of(["C38", "I65", "X00"]).tolist()
    ['C', 'I', None]
    """
    s = pd.Series(np.asarray(codes, dtype=object))
    known = s.map(is_known).to_numpy(dtype=bool)
    letters = np.array([c[0] if k else None for c, k in zip(s, known, strict=True)], dtype=object)
    return letters
