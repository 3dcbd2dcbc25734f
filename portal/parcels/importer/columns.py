"""Import columns: canonical names, their aliases in Chinese and English, header matching.

Headers are matched after NFKC, lower case, and removing spaces, ``_``, ``-``, ``/``,
``()`` and ``（）``: ``Tracking No.``, ``tracking_no`` and ``运单号`` all find the tracking
number. Only the tracking number is required; unknown columns are ignored (and listed).
docs/parcels.md documents the same table.
"""

from __future__ import annotations

import re
import unicodedata

#: canonical column -> aliases (the canonical name itself always matches too).
ALIASES: dict[str, tuple[str, ...]] = {
    "tracking_number": (
        "tracking number", "tracking no", "tracking", "tracking id", "waybill",
        "waybill no", "waybill number", "awb", "parcel number", "consignment number",
        "运单号", "运单号码", "运单编号", "快递单号", "快件单号", "单号", "邮件号", "物流单号",
        "運單號", "快遞單號"),
    "carrier": ("carrier", "courier", "company", "express company", "快递公司", "承运商",
                "快遞公司", "物流公司"),
    "service_line": ("service", "service line", "product", "service type", "服务", "产品",
                     "服务类型", "业务类型", "产品类型", "服務類型"),
    "situation": ("situation", "status", "state", "parcel status", "状态", "情况", "当前状态",
                  "快件状态", "狀態"),
    "origin_province": ("origin province", "from province", "始发省", "始发省份", "寄件省",
                        "寄件省份", "寄出省份"),
    "origin_city": ("origin city", "from city", "origin", "始发城市", "始发市", "始发地",
                    "寄件城市", "寄件市"),
    "destination_province": ("destination province", "to province", "目的省", "目的省份",
                             "收件省", "收件省份"),
    "destination_city": ("destination city", "to city", "destination", "目的城市", "目的市",
                         "目的地", "收件城市", "收件市"),
    "expected_delivery": ("expected delivery", "new expected delivery",
                          "new expected delivery date", "expected delivery date", "eta",
                          "new eta", "预计送达", "预计送达日期", "新预计送达日期", "预计到达",
                          "预计到达日期", "預計送達日期"),
    "last_location": ("last location", "last known location", "location", "current location",
                      "最后位置", "最后所在地", "当前位置", "所在地", "最後位置"),
    "last_seen_at": ("last seen", "last seen at", "last scan", "last scan time",
                     "last location time", "last update", "最后时间", "最后扫描时间",
                     "最后更新时间", "最后位置时间", "最後掃描時間"),
    "recipient_phone": ("recipient phone", "receiver phone", "consignee phone",
                        "recipient mobile", "recipient phone last 4", "收件人电话",
                        "收件人手机", "收件人手机号", "收件电话", "收件人电话后四位",
                        "收件人手机后四位", "收件人電話"),
    "sender_phone": ("sender phone", "shipper phone", "sender mobile", "sender phone last 4",
                     "寄件人电话", "寄件人手机", "寄件人手机号", "寄件电话", "寄件人电话后四位",
                     "寄件人手机后四位", "寄件人電話"),
}

#: Column order of the downloadable template.
TEMPLATE_HEADERS = (
    ("tracking_number", "运单号"), ("carrier", "快递公司"), ("service_line", "服务类型"),
    ("situation", "状态"), ("origin_province", "始发省份"), ("origin_city", "始发城市"),
    ("destination_province", "目的省份"), ("destination_city", "目的城市"),
    ("expected_delivery", "新预计送达日期"), ("last_location", "最后位置"),
    ("last_seen_at", "最后扫描时间"), ("recipient_phone", "收件人电话"),
    ("sender_phone", "寄件人电话"),
)
TEMPLATE_EXAMPLE = (
    "SF7444400048449", "SF Express", "standard", "delayed", "广东省", "深圳市", "北京市",
    "北京市", "2026-03-05", "Shenzhen hub", "2026-03-01 14:30", "13800001234",
    "13900005678",
)

_STRIP = re.compile(r"[\s_\-/()（）.:：*]+")


def header_key(text: object) -> str:
    """Normalise a header cell for matching."""
    value = unicodedata.normalize("NFKC", str(text or "")).strip().lower()
    return _STRIP.sub("", value.lstrip("\ufeff"))


_LOOKUP: dict[str, str] = {}
for _canonical, _aliases in ALIASES.items():
    for _alias in (_canonical, *_aliases):
        _LOOKUP[header_key(_alias)] = _canonical


def map_headers(headers: list[object]) -> tuple[dict[str, int], list[str]]:
    """Return ({canonical column: index}, [ignored header texts]); first match wins."""
    found: dict[str, int] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        canonical = _LOOKUP.get(header_key(header))
        if canonical is None or canonical in found:
            if str(header or "").strip():
                ignored.append(str(header).strip())
            continue
        found[canonical] = index
    return found, ignored
