"""filing_diff with hand-made filings: fields, table rows and cells, attachments by content."""

from __future__ import annotations

from typing import Any

from applications.definitions import definition_validate
from applications.models import SubmissionFiling
from reviews.diff import AttachmentChange, CellChange, FieldChange, RowChange, filing_diff
from tests.applications.core_definition import core_definition

DEFINITION = definition_validate(core_definition())


def filing(
    number: int, values: dict[str, Any], attachments: list[dict[str, Any]] | None = None
) -> SubmissionFiling:
    return SubmissionFiling(number=number, data=values, values=values, attachments=attachments or [])


def attachment(kind: str, name: str, sha: str) -> dict[str, Any]:
    return {"id": 1, "kind": kind, "name": name, "sha256": sha * 64, "size": 10}


BASE = {
    "company_name": "郑州甲",
    "founded": "2010-05-01",
    "investment": "80",
    "summary": "旧描述",
    "claims_big": False,
    "economics": [
        {"assets": "200", "liabilities": "50", "debt_ratio": "25"},
        {"assets": "300", "liabilities": "60", "debt_ratio": "20"},
    ],
}


def test_the_same_filing_has_no_changes():
    old = filing(1, BASE, [attachment("licence", "执照.pdf", "a")])
    new = filing(2, dict(BASE), [attachment("licence", "执照（改名）.pdf", "a")])  # renamed, same content
    diff = filing_diff(old, new, DEFINITION)
    assert diff.empty and (diff.old_number, diff.new_number) == (1, 2)


def test_numbers_compare_by_value_and_fields_show_as_the_form_writes_them():
    new = {**BASE, "investment": "80.00", "founded": "2011-06-02", "summary": "新描述", "claims_big": True}
    diff = filing_diff(filing(1, BASE), filing(2, new), DEFINITION)
    assert diff.fields == [
        FieldChange(
            section="基本信息", key="founded", label="成立时间", before="2010年5月1日", after="2011年6月2日"
        ),
        FieldChange(section="基本信息", key="claims_big", label="年耗能2000吨以上", before="否", after="是"),
        FieldChange(section="中心情况", key="summary", label="总体描述", before="旧描述", after="新描述"),
    ]
    assert diff.tables == [] and diff.attachments == []


def test_a_filled_field_and_a_cleared_one():
    new = {**BASE, "energy_tce": "2100"}
    del new["investment"]
    diff = filing_diff(filing(1, BASE), filing(2, new), DEFINITION)
    assert [(change.key, change.before, change.after) for change in diff.fields] == [
        ("investment", "80", ""),
        ("energy_tce", "", "2100"),
    ]


def test_table_cells_changed_and_rows_added_or_removed():
    changed = {
        **BASE,
        "economics": [
            {"assets": "200", "liabilities": "50", "debt_ratio": "25"},
            {"assets": "300", "liabilities": "90", "debt_ratio": "30"},
            {"assets": "400", "liabilities": "40", "debt_ratio": "10"},
        ],
    }
    diff = filing_diff(filing(1, BASE), filing(2, changed), DEFINITION)
    (table,) = diff.tables
    assert (table.section, table.label) == ("基本信息", "近三年主要经济指标")
    assert table.rows == [
        RowChange(
            label="2024年",
            change="changed",
            cells=[CellChange("总负债", "60", "90"), CellChange("资产负债率", "20", "30")],
        ),
        RowChange(
            label="第 3 行",
            change="added",
            cells=[
                CellChange("总资产", "", "400"),
                CellChange("总负债", "", "40"),
                CellChange("资产负债率", "", "10"),
            ],
        ),
    ]
    shorter = {**BASE, "economics": BASE["economics"][:1]}
    (table,) = filing_diff(filing(1, BASE), filing(2, shorter), DEFINITION).tables
    assert [(row.label, row.change) for row in table.rows] == [("2024年", "removed")]
    assert table.rows[0].cells[0] == CellChange("总资产", "300", "")


def test_attachments_added_removed_and_replaced_by_content():
    old = [
        attachment("licence", "执照.pdf", "a"),
        attachment("audit_report", "审计报告.pdf", "b"),
        attachment("audit_report", "旧附表.pdf", "c"),
    ]
    new = [
        attachment("licence", "执照.pdf", "d"),  # same name, new content: replaced
        attachment("audit_report", "审计报告-修订.pdf", "b"),  # renamed, same content: unchanged
        attachment("audit_report", "新附表.pdf", "e"),
        attachment("audit_report", "补充说明.pdf", "f"),
    ]
    diff = filing_diff(filing(1, BASE, old), filing(2, BASE, new), DEFINITION)
    assert diff.fields == [] and diff.tables == []
    assert diff.attachments == [
        AttachmentChange(kind="营业执照", change="replaced", before="执照.pdf", after="执照.pdf"),
        AttachmentChange(kind="专项审计报告", change="replaced", before="旧附表.pdf", after="新附表.pdf"),
        AttachmentChange(kind="专项审计报告", change="added", before="", after="补充说明.pdf"),
    ]
    gone = filing_diff(filing(1, BASE, old), filing(2, BASE, old[:1]), DEFINITION).attachments
    assert [(change.change, change.before) for change in gone] == [
        ("removed", "审计报告.pdf"),
        ("removed", "旧附表.pdf"),
    ]
