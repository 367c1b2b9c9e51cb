"""GB/T 2260 administrative division codes: provinces and a few cities per province.

A region code in the data contract is six digits whose first two name a province-level
division listed here.
"""

from __future__ import annotations

#: Province-level divisions: two-digit prefix → (Chinese name, English name).
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("北京市", "Beijing"), "12": ("天津市", "Tianjin"), "13": ("河北省", "Hebei"),
    "14": ("山西省", "Shanxi"), "15": ("内蒙古自治区", "Inner Mongolia"),
    "21": ("辽宁省", "Liaoning"), "22": ("吉林省", "Jilin"), "23": ("黑龙江省", "Heilongjiang"),
    "31": ("上海市", "Shanghai"), "32": ("江苏省", "Jiangsu"), "33": ("浙江省", "Zhejiang"),
    "34": ("安徽省", "Anhui"), "35": ("福建省", "Fujian"), "36": ("江西省", "Jiangxi"),
    "37": ("山东省", "Shandong"), "41": ("河南省", "Henan"), "42": ("湖北省", "Hubei"),
    "43": ("湖南省", "Hunan"), "44": ("广东省", "Guangdong"),
    "45": ("广西壮族自治区", "Guangxi"), "46": ("海南省", "Hainan"),
    "50": ("重庆市", "Chongqing"), "51": ("四川省", "Sichuan"), "52": ("贵州省", "Guizhou"),
    "53": ("云南省", "Yunnan"), "54": ("西藏自治区", "Tibet"), "61": ("陕西省", "Shaanxi"),
    "62": ("甘肃省", "Gansu"), "63": ("青海省", "Qinghai"),
    "64": ("宁夏回族自治区", "Ningxia"), "65": ("新疆维吾尔自治区", "Xinjiang"),
    "71": ("台湾省", "Taiwan"), "81": ("香港特别行政区", "Hong Kong"),
    "82": ("澳门特别行政区", "Macao"),
}

#: Regular expression for a region code (the province prefix is checked separately).
CODE_PATTERN = r"^[0-9]{6}$"

#: Real district-level codes used by the synthetic bank, with the city they lie in.
DISTRICTS: dict[str, str] = {
    "110105": "北京", "110108": "北京", "120116": "天津", "130102": "石家庄",
    "140105": "太原", "210106": "沈阳", "220104": "长春", "230103": "哈尔滨",
    "310104": "上海", "310115": "上海", "320102": "南京", "320505": "苏州",
    "320211": "无锡", "330106": "杭州", "330212": "宁波", "330782": "义乌",
    "340104": "合肥", "350203": "厦门", "350102": "福州", "360111": "南昌",
    "370102": "济南", "370202": "青岛", "410105": "郑州", "420106": "武汉",
    "430104": "长沙", "440106": "广州", "440305": "深圳", "441900": "东莞",
    "440604": "佛山", "450103": "南宁", "460106": "海口", "500105": "重庆",
    "510107": "成都", "520102": "贵阳", "530102": "昆明", "610113": "西安",
    "620102": "兰州", "640104": "银川", "650104": "乌鲁木齐",
}


def is_known(code: object) -> bool:
    """Tell whether ``code`` is six digits with a known province prefix.

    Examples
    --------
    >>> is_known("310115"), is_known("990101"), is_known("31011")
    (True, False, False)
    """
    return (
        isinstance(code, str) and len(code) == 6 and code.isdigit() and code[:2] in PROVINCES
    )
