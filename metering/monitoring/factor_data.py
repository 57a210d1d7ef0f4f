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
    "耗能工质系数取自旧版附录 B，使用前请核实（DOMAIN.md: “older edition; verify before relying”）。"
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
        "name": "GB/T 2589 (common table)",
        "kind": "standard_coal",
        "source": "GB/T 2589《综合能耗计算通则》（1 kgce = 29 307 kJ）",
        "edition": "common table（通用折标系数表；2020 版修改了附录）",
        "confidence": "medium_high",
        "is_default": True,
        "notes": (
            "DOMAIN.md: high that these are the values in practice, medium that every row is unchanged "
            "in the 2020 text. 电力等价值 varies by year (about 0.30) and is not shipped: add it as a "
            "new edition where needed. 蒸汽 has no row (no coefficient in DOMAIN.md). " + GBT_2589_NOTE_MEDIA
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
                  note="气田天然气 gas field (通用值); range 1.1000–1.3300 by source"),
            _coal("natural_gas", "m³", "1.3300", variant="oil_field", confidence="medium",
                  note="油田天然气 oil field"),
            _coal("coke_oven_gas", "m³", "0.5714", confidence="medium",
                  note="range 0.5714–0.6143: the lower bound; use a measured value where known"),
            _coal("heat", "MJ", "0.03412", note="34.12 kgce/GJ"),
            _coal("electricity", "kWh", "0.1229", note="当量值 (calorific equivalent)"),
            _coal("water", "t", "0.0857", confidence="unverified", note="新水 (appendix B, older edition)"),
            _coal("compressed_air", "m³", "0.0400", confidence="unverified",
                  note="appendix B, older edition"),
            _coal("oxygen", "m³", "0.4000", confidence="unverified", note="appendix B, older edition"),
            _coal("nitrogen", "m³", "0.6714", confidence="unverified", note="appendix B, older edition"),
            _coal("nitrogen", "m³", "0.4000", variant="by_product", confidence="unverified",
                  note="副产氮气 by-product (appendix B, older edition)"),
        ],
    },
    {
        "name": "全国电网平均排放因子（碳市场）",
        "kind": "grid_co2",
        "source": "生态环境部 环办气候函〔2023〕43号",
        "edition": "2022 national average for carbon-market reporting",
        "confidence": "medium_high",
        "is_default": False,
        "notes": "0.5703 tCO₂/MWh. For carbon-market reporting; regional figures use the statistical set.",
        "factors": [_grid(2022, NATIONAL, "0.5703")],
    },
    {
        "name": "电力二氧化碳排放因子（统计口径）",
        "kind": "grid_co2",
        "source": "生态环境部 电力二氧化碳排放因子（统计口径）",
        "edition": "published 2024 (2021 and 2022 factors)",
        "confidence": "medium_high",
        "is_default": True,
        "notes": (
            "kgCO₂/kWh by year and province; a region without its own row uses the national average, "
            "and a year after the latest published one uses the latest (the figure names the year used)."
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
        "edition": "defaults as listed in DOMAIN.md (which industry guideline: not recorded)",
        "confidence": "medium",
        "is_default": True,
        "notes": (
            "CO₂ = quantity × low heating value × carbon per heat unit × oxidation rate × 44/12 (scope 1). "
            "The industry guidelines differ slightly from each other: add each guideline as its own set."
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
        "source": "行业企业温室气体排放核算指南缺省值（DOMAIN.md 未注明具体文件）",
        "edition": "0.11 tCO₂/GJ",
        "confidence": "unverified",
        "is_default": True,
        "notes": "Purchased heat (scope 2). Steam bought by the tonne needs its enthalpy first: not shipped.",
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
