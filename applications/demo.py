"""Demo applications (`manage.py seed_demo`): each demo enterprise's application filled in
throughout, its attachments uploaded, and filed through the same services as the pages.

- `demo_enterprise` and `demo_enterprise_b` each file the Henan 2023 application;
- `demo_enterprise` also enters the 2025 contest (energy-saving technology track);
- `demo_shanghai` files the Shanghai 2024 enterprise variant, `demo_park` the park variant.

The measured figures (annual tce, access rates, stable months, before/after) come from the demo
meters' history, as for any applicant; the typed values adopt them, except one of
`demo_enterprise_b`'s, which is rounded up so reviewers see a flagged disagreement.

Idempotent: an enterprise that already has a submission to the program keeps it untouched.
"""

from __future__ import annotations

import colorsys
import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled
from PIL import Image, ImageDraw

from applications.attachments import attachment_add
from applications.definitions import FormField, ProgramDefinition, TableField
from applications.evidence import evidence_measure
from applications.models import Program, Submission
from applications.selectors import submission_context, submission_definition
from applications.services import SubmissionRefused, submission_save, submission_start, submission_submit
from applications.values import condition_holds, form_check
from portal.models import Enterprise, User

logger = logging.getLogger(__name__)

# Photos the demo attaches: large enough to look like photos in the PDF, small enough to seed fast.
DEMO_PHOTO_SIZE = (960, 720)


@dataclass(frozen=True)
class DemoApplication:
    username: str
    program: str
    variant: str = ""
    track: str = ""
    title: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    # Evidence-backed fields typed differently from the measurement (factor applied to it).
    typed_off: dict[str, Decimal] = field(default_factory=dict)


DEMO_APPLICATIONS: tuple[DemoApplication, ...] = (
    DemoApplication("demo_enterprise", "henan_dcmc_2023", title="郑州金水数字化能碳管理中心", values={
        "center_name": "郑州金水数字化能碳管理中心", "center_investment": "860", "center_started": "2024-05",
        "center_completed": "2025-10", "founded": "2006-03-18", "main_products": "数控机床、智能装配线",
        "contact_title": "能源管理部部长", "contact_mobile": "13803710101", "head_name": "刘振华",
        "head_title": "总经理", "head_phone": "0371-65550100",
        "economics": [
            {"total_assets": "52600", "total_liabilities": "23100", "revenue": "41800", "profit": "2650",
             "taxes": "1320"},
            {"total_assets": "55900", "total_liabilities": "23800", "revenue": "45600", "profit": "3010",
             "taxes": "1480"},
            {"total_assets": "58800", "total_liabilities": "24200", "revenue": "48900", "profit": "3380",
             "taxes": "1620"},
        ],
    }),
    DemoApplication("demo_enterprise_b", "henan_dcmc_2023", title="洛阳涧西重机能碳管控中心", values={
        "center_name": "洛阳涧西重机能碳管控中心", "center_investment": "1240", "center_started": "2024-03",
        "center_completed": "2025-10", "founded": "1998-07-01", "main_products": "矿山机械、大型铸锻件",
        "contact_title": "设备能源处处长", "contact_mobile": "13903790202", "head_name": "张卫东",
        "head_title": "董事长", "head_phone": "0379-64220200",
        "economics": [
            {"total_assets": "126000", "total_liabilities": "71800", "revenue": "88600", "profit": "-1200",
             "taxes": "2100"},
            {"total_assets": "129500", "total_liabilities": "70100", "revenue": "93400", "profit": "1860",
             "taxes": "2660"},
            {"total_assets": "133200", "total_liabilities": "69400", "revenue": "99800", "profit": "3920",
             "taxes": "3050"},
        ],
    }, typed_off={"energy_after": Decimal("1.10")}),
    DemoApplication("demo_enterprise", "henan_contest_2025", track="energy_saving",
                    title="机床主轴系统能量回馈节能技术", values={
        "cover_tech_name": "机床主轴系统能量回馈节能技术", "track_direction": "energy_saving",
        "tech_name": "机床主轴系统能量回馈节能技术", "tech_category": "energy_saving",
        "tech_stage": "applied",
        "ip_status": "own", "unit_nature": "private", "output_2024": "48900", "staff": "1260",
        "legal_rep_name": "刘振华", "legal_rep_phone": "0371-65550100",
        "main_products": "数控机床、智能装配线",
        "project_name": "金水工厂数控机床主轴能量回馈改造项目",
    }),
    DemoApplication("demo_shanghai", "shanghai_emc_2024", variant="enterprise", title="闵行精密能源管理中心",
                    values={
        "project_name": "闵行精密能源管理中心建设项目", "acceptance_date": "2025-12-20",
        "legal_representative": "陈国强", "unit_nature": "有限责任公司", "works_started": "2024-09",
        "works_completed": "2025-11", "annual_output": "68500", "invest_construction": "96",
        "invest_equipment": "138", "invest_software": "74", "invest_other": "12",
        "auth_capacity": "legal_representative", "auth_name": "陈国强",
        "auth_id_number": "31011219700101123X",
    }),
    DemoApplication("demo_park", "shanghai_emc_2024", variant="park", title="闵行低碳产业园能源管理中心",
                    values={
        "project_name": "闵行低碳产业园区能源管理中心建设项目", "acceptance_date": "2025-12-28",
        "legal_representative": "周建平", "unit_nature": "国有控股", "works_started": "2024-08",
        "works_completed": "2025-12", "annual_output": "412000", "invest_construction": "210",
        "invest_equipment": "326", "invest_software": "158", "invest_other": "36",
        "park_large_enterprises": "4", "park_connected_enterprises": "3", "park_connected_tce": "3650",
        "auth_capacity": "project_lead", "auth_name": "周敏", "auth_id_number": "31011219820315262X",
    }),
)

# Sentences the long texts are written from, so every section reads like an applicant's prose.
_PROSE = (
    "企业以能源计量、数据采集和在线监测为基础，建成覆盖一级、二级、三级计量点的能源数据采集网络。",
    "电、天然气、蒸汽、压缩空气和水的计量数据每15分钟上传能碳管理平台，数据完整率持续保持在较高水平。",
    "平台实现能耗实时监测看板、分类分项统计、任意时段查询对比与导出，自动生成能耗统计分析表和单位产品能耗统计表。",
    "关键用能设备加装智能电表和流量计，空压站、冷却塔和加热炉实施节能优化控制，节能措施效果可追溯评价。",
    "设立能源管理科并聘任能碳管理负责人，制定计量器具管理、数据统计报送和节能绩效考核等制度。",
    "能碳管理中心与办公网之间部署网络隔离装置，系统具备完善的权限管理和操作日志，数据按日备份、异地容灾。",
    "系统与生产执行系统和财务系统集成，预留政府能耗在线监测接口，实现企业、车间、班组能耗与产量的关联分析。",
    "建设完成后单位产品综合能耗明显下降，主要用能设备能效水平持续提升，设备故障停机时间显著减少。",
    "下一步将深化碳排放核算和产品碳足迹管理，推进能源预测与优化调度，打造行业数字化能碳管理示范。",
)


def _prose(label: str, limit: int | None) -> str:
    target = min(limit - 10, 420) if limit else 420
    text = f"{label}："
    index = 0
    while len(text) < target * 0.8:
        text += _PROSE[index % len(_PROSE)]
        index += 1
    return text[: limit] if limit else text


def _field_value(item: FormField, *, today: dt.date) -> Any:
    label = item.label.zh
    kind = item.type
    if kind == "textarea":
        return _prose(label, item.max_length)
    if kind == "text":
        return label[: item.max_length or 50]
    if kind in ("integer",):
        return "12"
    if kind in ("decimal", "money"):
        return "100"
    if kind == "percent":
        return "98"
    if kind == "date":
        return (today - dt.timedelta(days=400)).isoformat()
    if kind == "month":
        return (today - dt.timedelta(days=400)).strftime("%Y-%m")
    if kind == "year":
        return str(today.year - 1)
    if kind == "choice":
        return item.choices[0].key if item.choices else ""
    if kind == "multichoice":
        return [item.choices[0].key] if item.choices else []
    if kind in ("boolean", "declaration"):
        return "yes"
    if kind == "email":
        return "energy@example.cn"
    if kind == "phone":
        return "0371-60000000"
    return ""


def _filled(definition: ProgramDefinition, submission: Submission, spec: DemoApplication,
            today: dt.date) -> dict[str, Any]:
    """Every applicable field the applicant fills: the spec's values, measured figures where a
    field takes one, plausible text and numbers elsewhere."""
    data: dict[str, Any] = dict(submission.data)
    data.update(spec.values)
    context = submission_context(submission, today=today)
    for section in definition.sections:
        if section.filled_by != "applicant":
            continue
        for item in section.items:
            if item.key in data and data[item.key] not in ("", None):
                continue
            if isinstance(item, TableField):
                count = len(item.rows) if item.rows else max(item.min_rows, 2)
                data[item.key] = [{column.key: _field_value(column, today=today) for column in item.columns
                                   if column.type != "computed"} for _ in range(count)]
            elif item.type != "computed":
                data[item.key] = _field_value(item, today=today)
    values = form_check(definition, data, context=context).values
    for figure in evidence_measure(submission.enterprise, definition, values=values, today=today):
        if figure.field and figure.value is not None:
            typed = figure.value * spec.typed_off.get(figure.field, Decimal(1))
            data[figure.field] = str(typed.quantize(figure.value) if figure.value.as_tuple().exponent
                                     else typed.to_integral_value())
    return data


def _pdf(text: str) -> bytes:
    """A one-page PDF (a scan stand-in) with a correct cross-reference table."""
    content = f"BT /F1 14 Tf 40 120 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _photo(index: int) -> bytes:
    """A photo stand-in: a sky-to-floor gradient with the shapes of a control room."""
    width, height = DEMO_PHOTO_SIZE
    image = Image.new("RGB", DEMO_PHOTO_SIZE)
    draw = ImageDraw.Draw(image)
    hue = (index * 0.09) % 1.0
    for y in range(height):
        r, g, b = colorsys.hsv_to_rgb(hue, 0.35, 0.95 - 0.5 * y / height)
        draw.line([(0, y), (width, y)], fill=(int(r * 255), int(g * 255), int(b * 255)))
    for column in range(4):
        left = 60 + column * 220
        draw.rectangle([left, 180, left + 180, 320], fill=(20, 30, 60), outline=(200, 220, 255), width=4)
        draw.line([(left + 10, 300), (left + 60, 240), (left + 110, 270), (left + 170, 200)],
                  fill=(80, 220, 140), width=5)
    draw.rectangle([0, 520, width, height], fill=(70, 70, 80))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=82)
    return out.getvalue()


def _attach_all(submission: Submission, definition: ProgramDefinition, user: User, today: dt.date) -> None:
    context = submission_context(submission, today=today)
    values = form_check(definition, submission.data, context=context).values
    for kind in definition.attachments:
        if kind.applies_if is not None and not condition_holds(kind.applies_if, values=values,
                                                               context=context):
            continue
        wanted = kind.min_count or 1
        for number in range(wanted):
            if "pdf" in kind.types:
                name, content = f"{kind.label.zh}.pdf", _pdf(f"Nengtan demo: {kind.key} {number + 1}")
            else:
                name, content = f"{kind.label.zh}-{number + 1:02d}.jpg", _photo(number)
            attachment_add(submission=submission, kind_key=kind.key,
                           upload=SimpleUploadedFile(name, content), user=user)


def _seed_one(spec: DemoApplication, *, today: dt.date) -> Submission | None:
    user = User.objects.filter(username=spec.username).select_related("enterprise__region").first()
    program = Program.objects.filter(code=spec.program).first()
    if user is None or user.enterprise is None or program is None:
        return None
    existing = Submission.objects.filter(enterprise=user.enterprise, program=program).first()
    if existing is not None:
        return existing
    enterprise: Enterprise = user.enterprise
    with transaction.atomic():
        submission = submission_start(program=program, enterprise=enterprise, user=user, variant=spec.variant,
                                      track=spec.track, today=today)
        definition = submission_definition(submission)
        changes = _filled(definition, submission, spec, today)
        submission_save(submission=submission, user=user, changes=changes, title=spec.title)
        _attach_all(submission, definition, user, today)
        from reviews.services import TransitionRefused, applicant_file  # the workflow sits above

        try:
            if applicant_file(submission=submission, user=user, today=today) is None:
                submission_submit(submission=submission, user=user, today=today)
        except (SubmissionRefused, TransitionRefused) as exc:
            # A demo that cannot file says why and stays a draft: the reasons are the page's too.
            logger.warning("demo application %s of %s stays a draft: %s", spec.program, spec.username,
                           "; ".join(getattr(exc, "problems", None) or getattr(exc, "messages", [])))
    return submission


def seed_demo_applications(*, today: dt.date | None = None) -> list[Submission]:
    """File every demo application that does not exist yet (see the module docstring)."""
    today = today or timezone.localdate()
    seeded = []
    with scopes_disabled():  # seeding writes several demo tenants' rows, like a data migration
        for spec in DEMO_APPLICATIONS:
            submission = _seed_one(spec, today=today)
            if submission is not None:
                seeded.append(submission)
    return seeded

