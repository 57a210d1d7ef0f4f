"""Administrative divisions shipped with the portal (GB/T 2260 codes).

Henan: the province, its 17 provincial cities and Jiyuan (a county-level unit administered
by the province), plus districts of Zhengzhou and Luoyang. Shanghai: the municipality and
its 16 districts. Further divisions are added as data through the admin.
"""

from __future__ import annotations

from typing import Any

# (code, name, English name, level, parent code)
REGIONS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("410000", "河南省", "Henan", "province", None),
    ("410100", "郑州市", "Zhengzhou", "city", "410000"),
    ("410200", "开封市", "Kaifeng", "city", "410000"),
    ("410300", "洛阳市", "Luoyang", "city", "410000"),
    ("410400", "平顶山市", "Pingdingshan", "city", "410000"),
    ("410500", "安阳市", "Anyang", "city", "410000"),
    ("410600", "鹤壁市", "Hebi", "city", "410000"),
    ("410700", "新乡市", "Xinxiang", "city", "410000"),
    ("410800", "焦作市", "Jiaozuo", "city", "410000"),
    ("410900", "濮阳市", "Puyang", "city", "410000"),
    ("411000", "许昌市", "Xuchang", "city", "410000"),
    ("411100", "漯河市", "Luohe", "city", "410000"),
    ("411200", "三门峡市", "Sanmenxia", "city", "410000"),
    ("411300", "南阳市", "Nanyang", "city", "410000"),
    ("411400", "商丘市", "Shangqiu", "city", "410000"),
    ("411500", "信阳市", "Xinyang", "city", "410000"),
    ("411600", "周口市", "Zhoukou", "city", "410000"),
    ("411700", "驻马店市", "Zhumadian", "city", "410000"),
    ("419001", "济源市", "Jiyuan", "city", "410000"),
    ("410102", "中原区", "Zhongyuan", "district", "410100"),
    ("410103", "二七区", "Erqi", "district", "410100"),
    ("410104", "管城回族区", "Guancheng", "district", "410100"),
    ("410105", "金水区", "Jinshui", "district", "410100"),
    ("410106", "上街区", "Shangjie", "district", "410100"),
    ("410108", "惠济区", "Huiji", "district", "410100"),
    ("410302", "老城区", "Laocheng", "district", "410300"),
    ("410303", "西工区", "Xigong", "district", "410300"),
    ("410305", "涧西区", "Jianxi", "district", "410300"),
    ("410307", "偃师区", "Yanshi", "district", "410300"),
    ("410308", "孟津区", "Mengjin", "district", "410300"),
    ("410311", "洛龙区", "Luolong", "district", "410300"),
    ("310000", "上海市", "Shanghai", "province", None),
    ("310101", "黄浦区", "Huangpu", "district", "310000"),
    ("310104", "徐汇区", "Xuhui", "district", "310000"),
    ("310105", "长宁区", "Changning", "district", "310000"),
    ("310106", "静安区", "Jing'an", "district", "310000"),
    ("310107", "普陀区", "Putuo", "district", "310000"),
    ("310109", "虹口区", "Hongkou", "district", "310000"),
    ("310110", "杨浦区", "Yangpu", "district", "310000"),
    ("310112", "闵行区", "Minhang", "district", "310000"),
    ("310113", "宝山区", "Baoshan", "district", "310000"),
    ("310114", "嘉定区", "Jiading", "district", "310000"),
    ("310115", "浦东新区", "Pudong", "district", "310000"),
    ("310116", "金山区", "Jinshan", "district", "310000"),
    ("310117", "松江区", "Songjiang", "district", "310000"),
    ("310118", "青浦区", "Qingpu", "district", "310000"),
    ("310120", "奉贤区", "Fengxian", "district", "310000"),
    ("310151", "崇明区", "Chongming", "district", "310000"),
)


def load_regions(region_model: Any) -> int:
    """Create or update the shipped regions (parents first). Returns how many were written.

    `region_model` is the migration's historical Region (apps.get_model), hence untyped."""
    by_code: dict[str, Any] = {}
    for code, name, name_en, level, parent_code in REGIONS:
        parent = by_code.get(parent_code) if parent_code else None
        region, _ = region_model.objects.update_or_create(
            code=code,
            defaults={"name": name, "name_en": name_en, "level": level, "parent": parent,
                      "path": (parent.path if parent else "/") + f"{code}/"},
        )
        by_code[code] = region
    return len(by_code)
