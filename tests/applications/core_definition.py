"""A small program definition that exercises every part of the format, for the core tests."""

from __future__ import annotations

from typing import Any


def core_definition(code: str = "test_core_2026", version: int = 1) -> dict[str, Any]:
    return {
        "code": code, "name": "测试项目", "name_en": "Test program", "region": "410000",
        "document": "测试〔2026〕1号", "version": version, "description": "用于测试。",
        "evidence": [
            {"key": "annual_tce", "label": {"zh": "年综合能耗", "en": "Annual energy"},
             "indicator": "total_tce", "period": "last_full_year"},
        ],
        "eligibility": [
            {"key": "in_henan", "label": {"zh": "在河南省注册", "en": "Registered in Henan"},
             "check": "region", "region": "410000"},
            {"key": "big_enough", "label": {"zh": "年综合能耗≥2000 tce", "en": "≥ 2000 tce a year"},
             "check": "evidence_gte", "evidence": "annual_tce", "value": 2000,
             "applies_if": {"field": "claims_big", "equals": "yes"}},
        ],
        "sections": [
            {"key": "basic", "title": {"zh": "基本信息", "en": "Basic information"}, "items": [
                {"key": "company_name", "type": "text", "label": {"zh": "企业名称", "en": "Name"},
                 "required": True, "prefill": "enterprise.name", "max_length": 100},
                {"key": "founded", "type": "date", "label": {"zh": "成立时间", "en": "Founded"},
                 "required": True, "past_only": True},
                {"key": "claims_big", "type": "boolean", "label": {"zh": "年耗能2000吨以上", "en": "Big"}},
                {"key": "economics", "type": "table",
                 "label": {"zh": "近三年主要经济指标", "en": "Economics"},
                 "rows": [{"key": "y2023", "label": {"zh": "2023年", "en": "2023"}},
                          {"key": "y2024", "label": {"zh": "2024年", "en": "2024"}}],
                 "columns": [
                     {"key": "assets", "type": "money", "unit": "万元", "required": True,
                      "label": {"zh": "总资产", "en": "Assets"}},
                     {"key": "liabilities", "type": "money", "unit": "万元", "required": True,
                      "label": {"zh": "总负债", "en": "Liabilities"}},
                     {"key": "debt_ratio", "type": "computed", "unit": "%",
                      "formula": "liabilities / assets * 100",
                      "label": {"zh": "资产负债率", "en": "Debt ratio"}},
                 ]},
            ]},
            {"key": "center", "title": {"zh": "中心情况", "en": "Center"}, "items": [
                {"key": "investment", "type": "money", "unit": "万元", "required": True,
                 "label": {"zh": "投资", "en": "Investment"}},
                {"key": "summary", "type": "textarea", "max_length": 10, "required": True,
                 "label": {"zh": "总体描述", "en": "Summary"}},
                {"key": "energy_tce", "type": "decimal", "unit": "tce", "evidence": "annual_tce",
                 "label": {"zh": "年综合能耗", "en": "Annual energy"}},
                {"key": "commitment", "type": "declaration", "required": True,
                 "label": {"zh": "真实性承诺", "en": "Commitment"}},
            ]},
        ],
        "attachments": [
            {"key": "licence", "label": {"zh": "营业执照", "en": "Licence"}, "types": ["pdf", "jpg"],
             "required": True},
            {"key": "audit_report", "label": {"zh": "专项审计报告", "en": "Audit report"}, "types": ["pdf"],
             "required_if": {"field": "investment", "gte": 100}},
        ],
        "summary_table": {"title": {"zh": "汇总表", "en": "Summary"}, "columns": [
            {"key": "seq", "label": {"zh": "序号", "en": "No."}, "source": "seq"},
            {"key": "name", "label": {"zh": "企业名称", "en": "Enterprise"}, "source": "enterprise.name"}]},
    }


def core_workflow() -> dict[str, Any]:
    """A first review by the city with returns for additions, then the province decides."""
    def label(zh: str, en: str) -> dict[str, str]:
        return {"zh": zh, "en": en}

    return {
        "first_review_level": "municipal",
        "states": [
            {"key": "draft", "label": label("草稿", "Draft")},
            {"key": "submitted", "label": label("已提交", "Submitted")},
            {"key": "returned", "label": label("退回补正", "Returned")},
            {"key": "first_review_passed", "label": label("初审通过", "First review passed")},
            {"key": "passed", "label": label("通过", "Passed"), "final": True},
            {"key": "not_passed", "label": label("不通过", "Not passed"), "final": True},
        ],
        "transitions": [
            {"key": "submit", "label": label("提交", "Submit"), "sources": ["draft"], "target": "submitted",
             "actors": ["applicant"], "notify": ["first_reviewer"]},
            {"key": "return_for_additions", "label": label("退回补正", "Return for additions"),
             "sources": ["submitted"], "target": "returned", "actors": ["first_reviewer"],
             "needs_reason": True, "needs_deadline": True, "notify": ["applicant"]},
            {"key": "resubmit", "label": label("补正后重新提交", "Resubmit"), "sources": ["returned"],
             "target": "submitted", "actors": ["applicant"], "guards": ["deadline_not_passed"]},
            {"key": "first_review_pass", "label": label("初审通过", "Pass first review"),
             "sources": ["submitted"], "target": "first_review_passed", "actors": ["first_reviewer"],
             "batch": True},
            {"key": "decide_pass", "label": label("评审通过", "Decide: passed"),
             "sources": ["first_review_passed"], "target": "passed", "actors": ["provincial"],
             "needs_reason": True, "outcome": "passed"},
            {"key": "decide_fail", "label": label("评审不通过", "Decide: not passed"),
             "sources": ["first_review_passed"], "target": "not_passed", "actors": ["provincial"],
             "needs_reason": True, "outcome": "not_passed"},
        ],
    }
