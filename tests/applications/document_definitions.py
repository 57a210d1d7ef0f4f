"""Definitions and filled-in data for the document tests and the PDF benchmark.

`henan_like_definition()` is as large as the Henan 2023 application form (附件1 of seed 000, in
its order): enterprise information and contacts, the three years' economic indicators with the
computed debt ratio, the center's information, the overall description (≤ 500 characters) and
the seven element sections (≤ 300 each), the before/after figures, the truthfulness commitment
with its signature and seal, the city's recommendation (filled by the authority), the enterprise
overview and the detailed introduction (二, 三), the attachments of 四 (≥ 10 photos) and the
summary table of 附件2. It stands in for applications/programs/henan_dcmc_2023.yaml until the
real definition lands on main. `henan_like_data()` fills every field, long texts at their limits.

`shanghai_like_definition()` is the core test definition with the print rules of Shanghai 附件4.
"""

from __future__ import annotations

from typing import Any

from tests.applications.core_definition import core_definition

SEVEN_ELEMENTS = (
    ("element_network", "能碳源数据采集网络", "请简要说明能碳源数据采集网络建设情况"),
    ("element_security", "信息安全建设", "请简要说明碳管理中心信息安全建设情况"),
    ("element_control", "重点设备节能优化控制", "请简要说明重点设备节能优化控制情况"),
    ("element_data", "能碳数据综合管理", "请简要说明能源数据采集与综合监控、能源在线调度等情况"),
    ("element_carbon", "企业数字化碳体系管理", "请简要说明企业碳排放核算、产品碳足迹档案等情况"),
    ("element_integration", "系统集成与对外接口", "请简要说明与企业业务系统以及政府部门系统集成等情况"),
    ("element_infrastructure", "能碳调度中心基础设施", "请简要说明调度中心控制室、机房工程等情况"),
    ("element_management", "配套管理体系", "请简要说明企业能碳管理中心配套管理模式和机制建设等情况"),
)
ELEMENT_LIMIT = 300
OVERALL_LIMIT = 500


def _label(zh: str, en: str | None = None) -> dict[str, str]:
    return {"zh": zh, "en": en or zh}


def _text(key: str, zh: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "type": "text", "label": _label(zh), "required": True, **extra}


def _long(key: str, zh: str, limit: int, hint: str = "") -> dict[str, Any]:
    field: dict[str, Any] = {"key": key, "type": "textarea", "label": _label(zh), "required": True,
                             "max_length": limit}
    if hint:
        field["help"] = _label(f"（{hint}，不超过 {limit} 字）")
    return field


def _money(key: str, zh: str) -> dict[str, Any]:
    return {"key": key, "type": "money", "unit": "万元", "label": _label(zh), "required": True}


def _figure(key: str, zh: str, unit: str, evidence: str | None = None) -> dict[str, Any]:
    field: dict[str, Any] = {"key": key, "type": "decimal", "unit": unit, "label": _label(zh),
                             "required": True}
    if evidence:
        field["evidence"] = evidence
    return field


def henan_like_definition(code: str = "henan_like_2023") -> dict[str, Any]:
    years = [{"key": f"y{year}", "label": _label(f"{year}年")} for year in (2020, 2021, 2022)]
    return {
        "code": code, "name": "河南省数字化能碳管理中心遴选", "name_en": "Henan DCMC selection",
        "region": "410000", "document": "豫工信办节〔2023〕79号", "version": 1,
        "description": "在河南省境内注册的制造业企业申报数字化能碳管理中心。",
        "evidence": [
            {"key": "annual_tce", "label": _label("年综合能耗"), "indicator": "total_tce",
             "period": "last_full_year", "unit": "tce"},
            {"key": "tce_before", "label": _label("建设完成前能源消耗总量"), "indicator": "total_tce",
             "period": "base_year", "base_year_field": "center_completed", "unit": "tce"},
            {"key": "tce_after", "label": _label("建设完成后能源消耗总量"), "indicator": "total_tce",
             "period": "after_completion", "base_year_field": "center_completed", "unit": "tce"},
        ],
        "eligibility": [
            {"key": "in_henan", "label": _label("在河南省境内注册"), "check": "region", "region": "410000"},
            {"key": "truthful", "label": _label("申报材料真实性承诺"), "check": "declaration",
             "field": "commitment"},
        ],
        "sections": [
            {"key": "enterprise", "part": "一、基本信息表", "title": _label("企业基本信息"), "items": [
                _text("company_name", "企业名称", prefill="enterprise.name", max_length=100),
                _text("industry", "所属行业"),
                {"key": "founded", "type": "date", "label": _label("成立时间"), "required": True,
                 "past_only": True},
                _text("main_products", "主要产品"),
                {"key": "credit_code", "type": "credit_code", "label": _label("统一社会信用代码"),
                 "required": True, "prefill": "enterprise.credit_code"},
                _text("address", "单位地址"),
                {"key": "honours", "type": "multichoice", "label": _label("已获称号"), "required": True,
                 "choices": [{"key": "green_factory", "label": _label("绿色工厂")},
                             {"key": "green_chain", "label": _label("绿色供应链")},
                             {"key": "demo", "label": _label("能碳管理示范企业")},
                             {"key": "other", "label": _label("其他"), "with_text": True}]},
            ]},
            {"key": "contacts", "part": "一、基本信息表", "title": _label("联系人及企业负责人"), "items": [
                _text("contact_name", "联系人姓名"),
                {"key": "contact_phone", "type": "phone", "label": _label("联系人电话"), "required": True},
                _text("contact_title", "联系人职务"),
                {"key": "contact_mobile", "type": "phone", "label": _label("联系人手机"), "required": True},
                {"key": "contact_fax", "type": "phone", "label": _label("传真")},
                {"key": "contact_email", "type": "email", "label": _label("E-mail"), "required": True},
                _text("leader_name", "企业负责人姓名"),
                _text("leader_title", "企业负责人职务"),
                {"key": "leader_phone", "type": "phone", "label": _label("企业负责人电话"), "required": True},
            ]},
            {"key": "economics", "part": "一、基本信息表", "title": _label("近三年主要经济指标"), "items": [
                {"key": "economic_indicators", "type": "table", "label": _label("近三年主要经济指标"),
                 "rows": years, "columns": [
                     _money("total_assets", "总资产"), _money("total_liabilities", "总负债"),
                     {"key": "debt_ratio", "type": "computed", "unit": "%", "label": _label("资产负债率"),
                      "formula": "total_liabilities / total_assets * 100"},
                     _money("revenue", "营业收入"), _money("profit", "利润"), _money("tax", "税金")]},
            ]},
            {"key": "center", "part": "一、基本信息表", "title": _label("能碳管理中心基本信息"), "items": [
                _text("center_name", "能碳管理中心名称", max_length=100),
                _money("center_investment", "能碳管理中心建设软硬件投资"),
                {"key": "center_started", "type": "month", "label": _label("能碳管理中心建设开始时间"),
                 "required": True, "past_only": True},
                {"key": "center_completed", "type": "month", "label": _label("能碳管理中心建成投运时间"),
                 "required": True, "past_only": True},
                {"key": "gov_connected", "type": "choice",
                 "label": _label("是否与政府部门能耗在线监测系统联网"),
                 "required": True, "choices": [{"key": "yes", "label": _label("是")},
                                               {"key": "no", "label": _label("否")}]},
                _long("center_overall", "能碳管理中心总体描述", OVERALL_LIMIT,
                      "从能碳源数据采集网络、重点设备能耗上云与节能优化控制等方面简要描述"),
                *[_long(key, zh, ELEMENT_LIMIT, hint) for key, zh, hint in SEVEN_ELEMENTS],
            ]},
            {"key": "benefits", "part": "一、基本信息表", "title": _label("建设前后经济、社会效益情况"),
             "items": [
                _long("benefits_overall", "建设前后经济、社会效益情况总体描述", OVERALL_LIMIT),
                _figure("tce_before", "建设完成前能源消耗总量", "tce", "tce_before"),
                _figure("tce_after", "建设完成后能源消耗总量", "tce", "tce_after"),
                _figure("co2_before", "建设完成前碳排放总量", "t CO₂"),
                _figure("co2_after", "建设完成后碳排放总量", "t CO₂"),
                _figure("energy_intensity_before", "建设完成前能源消耗强度", "%"),
                _figure("energy_intensity_after", "建设完成后能源消耗强度", "%"),
                _figure("carbon_intensity_before", "建设完成前碳排放强度", "%"),
                _figure("carbon_intensity_after", "建设完成后碳排放强度", "%"),
            ]},
            {"key": "commitment_section", "part": "一、基本信息表", "title": _label("申报单位真实性承诺"),
             "signatures": [_label("法定代表人签字、申报单位盖章")], "items": [
                 {"key": "commitment", "type": "declaration", "required": True,
                  "label": _label("我单位申报的所有材料，均真实、完整，如有不实，愿承担相应的责任。")}]},
            {"key": "recommendation", "part": "一、基本信息表", "filled_by": "authority",
             "title": _label("省辖市、济源示范区、航空港区、县（市）工业和信息化主管部门推荐意见"), "items": [
                 {"key": "recommendation_opinion", "type": "textarea", "label": _label("推荐意见")}]},
            {"key": "overview", "part": "二、申报企业情况概述", "title": _label("申报企业情况概述"),
             "items": [
                _long("company_profile", "申报企业概况", 2000,
                      "成立时间、发展历程、资本性质、财务状况、经营情况等"),
                _long("products", "产品介绍", 1000, "主营产品介绍"),
                _long("advantages", "行业优势", 1500, "技术优势、服务优势、已有的数字化能碳管控基础"),
            ]},
            {"key": "details", "part": "三、数字化能碳管理中心具体情况介绍", "title": _label("具体情况介绍"),
             "items": [
                 _long("center_details", "数字化能碳管理中心建设详情", 3000, "按要素条件编制"),
                 _long("center_comparison", "建设前后社会、经济、环境效益对比", 2000),
             ]},
        ],
        "attachments": [
            {"key": "licence", "label": _label("企业法人营业执照复印件"), "types": ["pdf", "jpg"],
             "required": True},
            {"key": "audit_report", "label": _label("上年度财务审计报告复印件"), "types": ["pdf"],
             "required": True},
            {"key": "honour_proof", "label": _label("绿色工厂、绿色供应链或能碳管理示范企业称号证明"),
             "types": ["pdf", "jpg"], "required": True},
            {"key": "photos", "label": _label("体现建设成效的照片"), "types": ["jpg", "png"],
             "min_count": 10},
            {"key": "screenshots", "label": _label("能碳管理中心应用屏幕截图"), "types": ["jpg", "png"],
             "min_count": 1},
            {"key": "signed_commitment", "label": _label("签字盖章的真实性承诺页扫描件"),
             "types": ["pdf", "jpg"],
             "signed_scan_of": "commitment_section"},
        ],
        "documents": [
            {"key": "application", "title": _label("河南省数字化能碳管理中心申报书"),
             "print_rules": {"cover": True, "cover_title": "河南省数字化能碳管理中心申报书",
                             "page_numbers": "bottom-center", "seed": "000 附件1"}},
        ],
        "summary_table": {"title": _label("河南省数字化能碳管理中心申报汇总表"), "seed": "000 附件2",
                          "columns": [
            {"key": "seq", "label": _label("序号"), "source": "seq"},
            {"key": "center_name", "label": _label("能碳管理中心名称"), "source": "field:center_name"},
            {"key": "enterprise", "label": _label("所属企业名称"), "source": "enterprise.name"},
            {"key": "county", "label": _label("所在县区"), "source": "enterprise.county"},
            {"key": "industry", "label": _label("行业"), "source": "enterprise.industry"},
            {"key": "remarks", "label": _label("备注"), "source": "field:remarks"},
        ]},
    }


def _at_limit(sentence: str, limit: int) -> str:
    """Realistic text exactly `limit` characters long."""
    text = sentence * (limit // len(sentence) + 1)
    return text[:limit]


SENTENCE = ("企业依托工业互联网平台建成覆盖全厂的能源数据采集网络，一级、二级、三级计量器具全部接入，"
            "实现电力、天然气、蒸汽和压缩空气的分类分项实时监测与统计分析。")


def henan_like_data(definition: dict[str, Any]) -> dict[str, Any]:
    """Every field of `henan_like_definition()` filled, every long text at its limit."""
    data: dict[str, Any] = {
        "industry": "钢铁冶炼", "founded": "2008-03-18", "main_products": "热轧板卷、冷轧薄板",
        "address": "河南省郑州市金水区经三路 88 号", "honours": ["green_factory", "other"],
        "honours__text": "省级智能工厂",
        "contact_name": "王建国", "contact_phone": "0371-65509953", "contact_title": "能源管理部部长",
        "contact_mobile": "13800138000", "contact_fax": "0371-65509954",
        "contact_email": "energy@example.com",
        "leader_name": "李志强", "leader_title": "总经理", "leader_phone": "0371-65500001",
        "economic_indicators": [
            {"total_assets": "125000", "total_liabilities": "56250", "revenue": "98000", "profit": "6200",
             "tax": "3100"},
            {"total_assets": "131000", "total_liabilities": "57640", "revenue": "104500", "profit": "7100",
             "tax": "3420"},
            {"total_assets": "138500", "total_liabilities": "58170", "revenue": "112300", "profit": "8050",
             "tax": "3760"},
        ],
        "center_name": "郑州甲钢铁数字化能碳管理中心", "center_investment": "2860.5",
        "center_started": "2021-03", "center_completed": "2022-06", "gov_connected": "yes",
        "tce_before": "186500", "tce_after": "172300", "co2_before": "452000", "co2_after": "418600",
        "energy_intensity_before": "1.92", "energy_intensity_after": "1.71",
        "carbon_intensity_before": "4.65", "carbon_intensity_after": "4.14",
        "commitment": "yes",
    }
    for section in definition["sections"]:
        for item in section["items"]:
            if item["type"] == "textarea" and section.get("filled_by") != "authority":
                # Texts without a limit (二、三 of the Henan form) are written as a full page.
                data[item["key"]] = _at_limit(SENTENCE, item.get("max_length") or 1500)
    return data


def shanghai_like_definition(code: str = "shanghai_like_2024") -> dict[str, Any]:
    """The core definition under the print rules of Shanghai 附件4 (seed 001)."""
    definition = core_definition(code=code)
    definition["name"] = "上海市工业通信业节能减排和合同能源管理专项资金项目（能源管理中心）"
    definition["region"] = "310000"
    definition["eligibility"] = []
    definition["sections"][1]["signatures"] = [{"zh": "申报单位意见（法人代表签字、加盖公章）",
                                               "en": "Applicant"}]
    definition["sections"].append({
        "key": "authority_opinion", "title": {"zh": "上级主管部门意见", "en": "Authority opinion"},
        "filled_by": "authority",
        "items": [{"key": "authority_note", "type": "textarea", "label": {"zh": "意见", "en": "Opinion"}}]})
    definition["documents"] = [{
        "key": "application", "title": {"zh": "资金项目申请表", "en": "Application form"},
        "print_rules": {
            "page_size": "A4", "margin_top_cm": "2.54", "margin_bottom_cm": "2.54", "margin_left_cm": "3.17",
            "margin_right_cm": "3.17", "cover": True, "toc": True, "page_numbers": "bottom-right",
            "cover_title": "上海市工业通信业节能减排和合同能源管理专项资金（能源管理中心）项目申报材料",
            "title_font": "heiti", "body_font": "songti", "seed": "001 附件4"}}]
    return definition
