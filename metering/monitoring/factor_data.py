"""The factor sets the portal ships, exactly as /work/shared/DOMAIN.md gives them.

Loaded by the data migration (so every database has them after `migrate`) and by the
`load_factor_sets` command (after a flush, or to check). Loading is idempotent: a set already
present by (name, edition) is left as it is, because shipped sets are locked and a figure
computed with one must never change. A corrected value is a new edition, i.e. a new set here.

Plain data (strings), so the migration can load it with historical models.
"""

from __future__ import annotations

from typing import Any

HENAN = "410000"
SHANGHAI = "310000"
NATIONAL = ""

GBT_2589_NOTE_MEDIA = (
    "耗能工质系数取自旧版附录 B，使用前请核实。"
    "未收录（无对应能源种类）：软化水 0.4857 kgce/t、除氧水 0.9714 kgce/t、鼓风 0.0300 kgce/m³、"
    "二氧化碳气 0.2143 kgce/m³、乙炔 8.3143 kgce/m³、电石 2.0786 kgce/kg。"
)


def _coal(energy_type: str, unit: str, value: str, *, variant: str = "", confidence: str = "",
          note: str = "") -> dict[str, Any]:
    return {"energy_type": energy_type, "variant": variant, "unit": unit, "basis": "calorific",
            "value": value, "confidence": confidence, "note": note}


def _grid(year: int, region_code: str, kg_per_kwh: str) -> dict[str, Any]:
    return {"energy_type": "electricity", "unit": "kWh", "basis": "co2", "scope": 2, "year": year,
            "region_code": region_code, "value": kg_per_kwh}


def _fuel(energy_type: str, unit: str, heating_value_gj: str, carbon_t_per_gj: str, oxidation_rate: str,
          *, variant: str = "", note: str = "") -> dict[str, Any]:
    return {"energy_type": energy_type, "variant": variant, "unit": unit, "basis": "co2", "scope": 1,
            "heating_value_gj": heating_value_gj, "carbon_t_per_gj": carbon_t_per_gj,
            "oxidation_rate": oxidation_rate, "note": note}


SHIPPED_FACTOR_SETS: list[dict[str, Any]] = [
    {
        "name": "GB/T 2589 折标准煤系数",
        "kind": "standard_coal",
        "source": "GB/T 2589《综合能耗计算通则》（1 kgce = 29 307 kJ）",
        "edition": "通用折标系数表（2020 版修改了附录）",
        "confidence": "medium_high",
        "is_default": True,
        "notes": (
            "实践中通用的取值；2020 版正文是否逐行未变尚待核实。电力等价值逐年公布（约 0.30），"
            "未随附：需要时请新增一个版次。蒸汽无系数（按吨计的蒸汽须先确定焓值）。" + GBT_2589_NOTE_MEDIA
        ),
        "factors": [
            _coal("raw_coal", "kg", "0.7143"),
            _coal("washed_coal", "kg", "0.9000"),
            _coal("coke", "kg", "0.9714"),
            _coal("crude_oil", "kg", "1.4286"),
            _coal("fuel_oil", "kg", "1.4286"),
            _coal("gasoline", "kg", "1.4714"),
            _coal("kerosene", "kg", "1.4714"),
            _coal("diesel", "kg", "1.4571"),
            _coal("lpg", "kg", "1.7143"),
            _coal("refinery_gas", "kg", "1.5714"),
            _coal("natural_gas", "m³", "1.2143", confidence="medium",
                  note="气田天然气（通用值）；按来源 1.1000–1.3300"),
            _coal("natural_gas", "m³", "1.3300", variant="oil_field", confidence="medium",
                  note="油田天然气"),
            _coal("coke_oven_gas", "m³", "0.5714", confidence="medium",
                  note="0.5714–0.6143 取下限；有实测值时用实测值"),
            _coal("heat", "MJ", "0.03412", note="34.12 kgce/GJ"),
            _coal("electricity", "kWh", "0.1229", note="当量值"),
            _coal("water", "t", "0.0857", confidence="unverified", note="新水（旧版附录 B）"),
            _coal("compressed_air", "m³", "0.0400", confidence="unverified",
                  note="旧版附录 B"),
            _coal("oxygen", "m³", "0.4000", confidence="unverified", note="旧版附录 B"),
            _coal("nitrogen", "m³", "0.6714", confidence="unverified", note="旧版附录 B"),
            _coal("nitrogen", "m³", "0.4000", variant="by_product", confidence="unverified",
                  note="副产氮气（旧版附录 B）"),
        ],
    },
    {
        "name": "全国电网平均排放因子（碳市场）",
        "kind": "grid_co2",
        "source": "生态环境部 环办气候函〔2023〕43号",
        "edition": "2022 年度全国电网平均排放因子（碳市场报告用）",
        "confidence": "medium_high",
        "is_default": False,
        "notes": "0.5703 tCO₂/MWh，用于碳市场报告；分地区数据用统计口径因子。",
        "factors": [_grid(2022, NATIONAL, "0.5703")],
    },
    {
        "name": "电力二氧化碳排放因子（统计口径）",
        "kind": "grid_co2",
        "source": "生态环境部 电力二氧化碳排放因子（统计口径）",
        "edition": "2024 年发布（2021、2022 年度因子）",
        "confidence": "medium_high",
        "is_default": True,
        "notes": (
            "按年度和省份，单位 kgCO₂/kWh；没有本省数据的地区用全国平均值，晚于最新公布年度的"
            "期间用最新年度（计算结果注明所用年度和地区）。"
        ),
        "factors": [
            _grid(2021, NATIONAL, "0.5568"),
            _grid(2022, NATIONAL, "0.5366"),
            _grid(2021, HENAN, "0.6369"),
            _grid(2022, HENAN, "0.6058"),
            _grid(2021, SHANGHAI, "0.5834"),
            _grid(2022, SHANGHAI, "0.5849"),
        ],
    },
    {
        "name": "化石燃料燃烧排放因子（行业指南缺省值）",
        "kind": "fuel_co2",
        "source": "国家发展改革委 行业企业温室气体排放核算方法与报告指南（缺省值）",
        "edition": "行业核算指南缺省值（具体为哪一行业指南尚待核实）",
        "confidence": "medium",
        "is_default": True,
        "notes": (
            "CO₂ = 消耗量 × 低位发热量 × 单位热值含碳量 × 碳氧化率 × 44/12（范围一）。"
            "各行业指南的缺省值略有差异：每一指南请作为单独的系数集添加。"
        ),
        "factors": [
            _fuel("natural_gas", "10⁴m³", "389.31", "0.0153", "0.99", note="≈2.162 kgCO₂/m³"),
            _fuel("raw_coal", "t", "23.204", "0.02618", "0.93", variant="bituminous", note="烟煤"),
            _fuel("raw_coal", "t", "24.515", "0.02749", "0.94", variant="anthracite", note="无烟煤"),
            _fuel("washed_coal", "t", "26.344", "0.02540", "0.93"),
            _fuel("coke", "t", "28.446", "0.0294", "0.93"),
            _fuel("diesel", "t", "43.33", "0.0202", "0.98"),
            _fuel("gasoline", "t", "44.80", "0.0189", "0.98"),
            _fuel("fuel_oil", "t", "40.19", "0.0211", "0.98"),
            _fuel("lpg", "t", "47.31", "0.0172", "0.99"),
            _fuel("coke_oven_gas", "10⁴m³", "173.854", "0.0136", "0.99"),
        ],
    },
    {
        "name": "购入热力排放因子",
        "kind": "heat_co2",
        "source": "行业企业温室气体排放核算指南缺省值（具体文件尚待核实）",
        "edition": "缺省值 0.11 tCO₂/GJ",
        "confidence": "unverified",
        "is_default": True,
        "notes": "购入热力（范围二）。按吨购入的蒸汽须先确定焓值，未随附。",
        "factors": [
            {"energy_type": "heat", "unit": "GJ", "basis": "co2", "scope": 2, "value": "110",
             "note": "0.11 tCO₂/GJ"},
        ],
    },
]


def load_shipped_factor_sets(factor_set_model: Any, factor_model: Any) -> list[str]:
    """Create the shipped sets that are missing (models passed in, so the data migration can use
    its historical ones). Returns the labels of the sets created; existing sets are untouched."""
    created = []
    for spec in SHIPPED_FACTOR_SETS:
        fields = {key: value for key, value in spec.items() if key not in ("name", "edition", "factors")}
        if factor_set_model.objects.filter(name=spec["name"], edition=spec["edition"]).exists():
            continue
        # A default of the same kind added by an administrator stays the default.
        defaults = factor_set_model.objects.filter(kind=fields["kind"], is_default=True)
        if fields["is_default"] and defaults.exists():
            fields["is_default"] = False
        # Rows first, lock last: the set is never locked while incomplete.
        factor_set = factor_set_model.objects.create(name=spec["name"], edition=spec["edition"],
                                                     **{**fields, "locked": False})
        for row in spec["factors"]:
            factor_model.objects.create(factor_set=factor_set, **row)
        factor_set.locked = True
        factor_set.save(update_fields=["locked"])
        created.append(f"{spec['name']}（{spec['edition']}）")
    return created
