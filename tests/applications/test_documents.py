"""The documents: the application as PDF, and the officials' Excel tables.

How the PDF is read: pdftotext/pdffonts (poppler-utils) and pypdf are not installed, so the
tests read WeasyPrint's own layout, `HTML(...).render()`: its pages, and the text of every box
on each page in reading order (`page_texts`), which is what the PDF draws. The page rules
(margins, page size, page-number boxes) are read from the laid-out pages' used values, the fonts
from the PDF itself, written uncompressed, where each embedded font file is named.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django_scopes import scopes_disabled
from openpyxl import load_workbook
from PIL import Image

from applications.definitions import definition_validate
from applications.documents.excel import submission_list_xlsx, summary_table_xlsx
from applications.documents.pdf import (
    html_render,
    submission_document_html,
    submission_pdf,
    submission_render,
    url_fetcher,
)
from applications.models import Attachment, Evidence, Program, Submission, SubmissionState
from applications.services import program_load, submission_save, submission_start, submission_submit
from tests.applications.document_definitions import (
    SEVEN_ELEMENTS,
    henan_like_data,
    henan_like_definition,
    shanghai_like_definition,
)
from tests.conftest import login

TODAY = dt.date(2026, 6, 1)
CM_PER_PX = 2.54 / 96  # WeasyPrint lays out in CSS pixels (96 per inch)


# -- helpers -------------------------------------------------------------------------------------

def _boxes(box: Any) -> Iterator[Any]:
    yield box
    for child in getattr(box, "children", ()):
        yield from _boxes(child)


def page_texts(document: Any) -> list[str]:
    """The text WeasyPrint laid out on each page, in box order (which is reading order here)."""
    texts = []
    for page in document.pages:
        parts = [box.text for box in _boxes(page._page_box) if hasattr(box, "text")]
        texts.append("".join(parts))
    return texts


def jpeg(width: int = 320, height: int = 240, colour: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.fixture
def private_storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "private", "base_url": "/no-public-url/"}}}
    return tmp_path / "private"


def _program(definition: dict[str, Any]) -> Program:
    with scopes_disabled():
        program, _outcome = program_load(definition=definition)
    return program


def attach(submission: Submission, kind: str, name: str, content: bytes, content_type: str) -> Attachment:
    attachment = Attachment(submission=submission, kind=kind, original_name=name, content_type=content_type,
                            size=len(content), sha256="0" * 64)
    attachment.file.save(name, ContentFile(content), save=False)
    attachment.save()
    return attachment


def henan_submission(world: Any, *, enterprise: Any = None, filed: bool = True, photos: int = 10,
                     changes: dict[str, Any] | None = None, code: str = "henan_like_2023") -> Submission:
    definition = henan_like_definition(code)
    program = Program.objects.filter(code=code).first() or _program(definition)
    enterprise = enterprise or world.tenant_a
    user = next(user for user in world.users.values() if user.enterprise_id == enterprise.pk)
    with scopes_disabled():
        submission = submission_start(program=program, enterprise=enterprise, user=user, today=TODAY)
        check = submission_save(submission=submission, user=user,
                                changes={**henan_like_data(definition), **(changes or {})},
                                title="数字化能碳管理中心建设项目")
        assert not check.errors, check.errors
        for kind in ("licence", "audit_report", "honour_proof", "signed_commitment"):
            attach(submission, kind, f"{kind}.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")
        attach(submission, "screenshots", "看板截图.png", _png(), "image/png")
        for number in range(photos):
            attach(submission, "photos", f"现场照片{number + 1}.jpg", jpeg(colour=(20 * number, 90, 160)),
                   "image/jpeg")
        if filed:
            submission_submit(submission=submission, user=user, today=TODAY)
            submission.refresh_from_db()
    return submission


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 120), (240, 240, 240)).save(buffer, "PNG")
    return buffer.getvalue()


# -- the PDF -------------------------------------------------------------------------------------

def test_fields_print_in_the_definitions_order_with_tables_choices_and_units(world, private_storage):
    submission = henan_submission(world, filed=False)
    with scopes_disabled():
        document = submission_render(submission)
    text = "".join(page_texts(document))
    definition = definition_validate(henan_like_definition())
    labels = []
    for section in definition.sections:
        labels.append(section.title.zh)
        labels += [item.label.zh for item in section.items]
    positions = []
    for label in labels:
        assert label in text, f"{label!r} is not printed"
        positions.append(text.index(label, positions[-1] if positions else 0))
    assert positions == sorted(positions), "labels print out of the definition's order"
    # The fixed-row table prints as a grid with its row labels and the computed debt ratio.
    assert re.search(r"2020年125000562504598000", text.replace(" ", "")), "economics row 2020"
    assert "资产负债率（%）" in text
    # Choices as the form's check boxes; units beside the values.
    assert "☑绿色工厂☐绿色供应链☐能碳管理示范企业☑其他：省级智能工厂" in text.replace(" ", "")
    assert "☑是☐否" in text.replace(" ", "")
    assert "2860.5 万元" in text
    assert "2021年3月" in text and "2008年3月18日" in text
    # Each of the seven element sections, with its limit.
    for _key, label, _hint in SEVEN_ELEMENTS:
        assert label in text
    assert "（不超过 300 字）" in text and "（不超过 500 字）" in text


def test_signature_seal_and_authority_blocks_and_the_draft_mark(world, private_storage):
    submission = henan_submission(world, filed=False)
    with scopes_disabled():
        html = submission_document_html(submission)
        pages = page_texts(html_render(html))
    assert 'data-signature="commitment_section"' in html
    commitment_page = next(text for text in pages if "法定代表人签字、申报单位盖章" in text)
    for line in ("签字：", "公章：", "日期："):
        assert line in commitment_page
    # The city's recommendation prints empty, with its seal block, even on a filled draft.
    assert 'data-opinion="recommendation"' in html
    opinion_page = next(text for text in pages if "推荐意见：" in text)
    assert "推荐单位（公章）" in opinion_page
    # A draft is marked on every page: the watermark and the header.
    assert all("草稿" in text for text in pages), "a page of the draft lacks the 草稿 mark"
    assert "草稿（未提交）" in pages[1]


def test_a_filed_submission_prints_what_was_filed_with_its_frozen_evidence(world, private_storage):
    submission = henan_submission(world)
    with scopes_disabled():
        assert submission.state == SubmissionState.SUBMITTED
        # Later edits of the data (by anyone) never reach the printed filing.
        Submission.objects.filter(pk=submission.pk).update(
            data={**submission.data, "center_name": "改过的名称"})
        Evidence.objects.filter(submission=submission, key="tce_before").update(
            value=Decimal("185000"), flagged=True, typed_value="186500")
        submission.refresh_from_db()
        html = submission_document_html(submission)
        pages = page_texts(html_render(html))
    text = "".join(pages)
    assert "郑州甲钢铁数字化能碳管理中心" in text and "改过的名称" not in text
    assert "草稿" not in text
    assert "在线监测测得值：185000 tce" in text and "与填报值不符" in text
    assert "在线监测佐证数据（提交时冻结）" in text
    # The attachment list and the photo appendix: ten photos and the screenshot, embedded.
    assert "体现建设成效的照片不少于 10 份现场照片1.jpg" in text.replace("\n", "")
    assert html.count('<img src="data:image/jpeg;base64,') == 10
    assert html.count('<img src="data:image/png;base64,') == 1
    assert "图 11" in text
    images = [box for page in html_render(html).pages for box in _boxes(page._page_box)
              if type(box).__name__ == "InlineReplacedBox"]
    assert len(images) == 11


def test_print_rules_of_shanghai_margins_cover_toc_and_page_numbers(world, private_storage):
    program = _program(shanghai_like_definition())
    user = world.user("outsider_admin")
    with scopes_disabled():
        submission = submission_start(program=program, enterprise=world.outsider, user=user, today=TODAY)
        submission_save(submission=submission, user=user, title="能源管理中心建设项目",
                        changes={"founded": "2010-05-01", "summary": "十字以内", "investment": "80",
                                 "commitment": "yes",
                                 "economics": [{"assets": "200", "liabilities": "50"},
                                               {"assets": "300", "liabilities": "60"}]})
        html = submission_document_html(submission)
    document = html_render(html)
    # Margins top/bottom 2.54 cm, left/right 3.17 cm on A4 (21.0 × 29.7 cm), every page.
    for page in document.pages:
        box = page._page_box
        assert round(box.margin_top * CM_PER_PX, 2) == 2.54
        assert round(box.margin_bottom * CM_PER_PX, 2) == 2.54
        assert round(box.margin_left * CM_PER_PX, 2) == 3.17
        assert round(box.margin_right * CM_PER_PX, 2) == 3.17
        assert (round(page.width * CM_PER_PX, 1), round(page.height * CM_PER_PX, 1)) == (21.0, 29.7)
    # The cover: the title in 二号 (22 pt) bold 黑体, the names in 一号 (26 pt) 黑体, the date in
    # 三号 (16 pt) 仿宋 (the serif CJK face: no 仿宋 is installed), and no page number.
    assert "@bottom-right { content: counter(page);" in html
    assert (".cover-title { font-family: \"Noto Sans CJK SC\", sans-serif; font-size: 22pt; "
            "font-weight: bold;") in html
    assert ".cover-names dd { font-family: \"Noto Sans CJK SC\", sans-serif; font-size: 26pt;" in html
    assert ".cover-date { font-family: \"Noto Serif CJK SC\", serif; font-size: 16pt;" in html
    assert ".toc { break-after: page; font-family: \"Noto Serif CJK SC\", serif; font-size: 16pt; " \
           "line-height: normal; }" in html
    cover = document.pages[0]
    cover_text = page_texts(document)[0]
    assert "上海市工业通信业节能减排和合同能源管理专项资金（能源管理中心）项目申报材料" in cover_text
    assert world.outsider.name in cover_text and "能源管理中心建设项目" in cover_text
    assert _bottom_right(cover) == "", "the cover carries no page number"
    title_box = next(box for box in _boxes(cover._page_box)
                     if getattr(box, "text", "").startswith("上海市工业"))
    assert title_box.style["font_size"] == pytest.approx(22 * 96 / 72)
    assert title_box.style["font_weight"] == 700
    assert title_box.style["font_family"][0] == "Noto Sans CJK SC"
    names = next(box for box in _boxes(cover._page_box) if getattr(box, "text", "") == world.outsider.name)
    assert names.style["font_size"] == pytest.approx(26 * 96 / 72)
    # Every page after the cover is numbered at the lower right, the contents list them.
    for number, page in enumerate(document.pages[1:], start=2):
        assert _bottom_right(page) == str(number)
    toc = page_texts(document)[1]  # the cover fits on its page: the contents come next
    assert "目　录" in toc and re.search(r"基本信息\.+3", toc), toc
    entry = next(box for box in _boxes(document.pages[1]._page_box) if getattr(box, "text", "") == "基本信息")
    assert entry.style["font_size"] == pytest.approx(16 * 96 / 72)
    assert entry.style["font_family"][0] == "Noto Serif CJK SC"
    # The note says the serif face stands in for 仿宋.
    assert "本文件中的“仿宋”字体以“Noto Serif CJK SC”代替" in "".join(page_texts(document))


def _bottom_right(page: Any) -> str:
    boxes = [box for box in page._page_box.children
             if getattr(box, "at_keyword", "").lstrip("@") == "bottom-right"]
    return "".join(child.text for box in boxes for child in _boxes(box) if hasattr(child, "text"))


def test_a_definition_without_documents_prints_every_section_in_one_document(world, private_storage):
    from tests.applications.core_definition import core_definition

    program = _program(core_definition())
    user = world.user("a_admin")
    with scopes_disabled():
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user, today=TODAY)
        submission_save(submission=submission, user=user, changes={"investment": "-3", "summary": "十字以内"})
        text = "".join(page_texts(submission_render(submission)))
        html = submission_document_html(submission)
    assert "测试项目申报书" in text
    assert text.index("基本信息") < text.index("中心情况") < text.index("附件清单")
    # What was typed and failed its check still prints, so nothing typed is lost on paper either.
    assert "-3 万元" in text
    # The core definition keeps the default print rules: numbers at the bottom centre.
    assert "@bottom-center { content: counter(page);" in html


def test_the_pdf_embeds_subset_cjk_fonts(world, private_storage):
    submission = henan_submission(world, filed=False, photos=0)
    with scopes_disabled():
        document = submission_render(submission)
        pdf = document.write_pdf(uncompressed_pdf=True)
        assert submission_pdf(submission).startswith(b"%PDF-")
    # Subset fonts are named "/ABCDEF+<family>" (WeasyPrint names them by family).
    fonts = set(re.findall(rb"/FontName /[A-Z]{6}\+([A-Za-z0-9-]+)", pdf))
    assert {b"Noto-Sans-CJK-SC", b"Noto-Serif-CJK-SC"} <= fonts, fonts
    assert pdf.count(b"/FontFile") >= 2  # the font programs are in the file, not referenced


def test_the_renderer_never_fetches_from_the_network(private_storage):
    fetcher = url_fetcher()
    for url in ("http://127.0.0.1:9/x.png", "https://example.com/x.css", "file:///etc/passwd",
                "ftp://example.com/x"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain;base64,5L2g5aW9").read() == "你好".encode()
    document = html_render('<p>甲</p><img src="http://127.0.0.1:9/x.png"><img src="file:///etc/hostname">')
    assert len(document.pages) == 1


# -- the views -----------------------------------------------------------------------------------

def test_the_pdf_view_answers_inline_for_those_who_may_read_the_submission(client, world, private_storage):
    submission = henan_submission(world)
    url = reverse("applications:submission_pdf", kwargs={"submission_id": submission.pk})
    login(client, world.user("a_staff"))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    disposition = response["Content-Disposition"]
    assert disposition.startswith(f'inline; filename="{submission.program.code}-{submission.pk}.pdf"; ')
    assert "filename*=utf-8''" in disposition and ".pdf" in disposition
    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(url).status_code == 200
    for role in ("b_admin", "luoyang_reviewer", "outsider_admin", "expert"):
        login(client, world.user(role))
        assert client.get(url).status_code == 404, role
    login(client, world.user("a_admin"))
    assert client.get(url + "?document=nonexistent").status_code == 404
    missing = reverse("applications:submission_pdf", kwargs={"submission_id": 2_147_480_000})
    assert client.get(missing).status_code == 404


def test_a_draft_pdf_is_for_its_enterprise_only(client, world, private_storage):
    submission = henan_submission(world, filed=False)
    url = reverse("applications:submission_pdf", kwargs={"submission_id": submission.pk})
    login(client, world.user("a_admin"))
    response = client.get(url)
    assert response.status_code == 200 and "%E8%8D%89%E7%A8%BF" in response["Content-Disposition"]  # 草稿
    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(url).status_code == 404


# -- the Excel tables ----------------------------------------------------------------------------

def _rows(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_the_henan_summary_table_has_the_columns_of_annex_2(world, private_storage):
    first = henan_submission(world)
    second = henan_submission(world, enterprise=world.tenant_b,
                              changes={"center_name": "洛阳乙化工能碳管理中心"})
    henan_submission(world, changes={"center_name": "不在表中的中心"})
    with scopes_disabled():
        content = summary_table_xlsx(first.program, [first, second])
    rows = _rows(content)
    assert rows[0][0] == "河南省数字化能碳管理中心申报汇总表"
    assert rows[1][0] == "推荐单位（盖章）："
    assert rows[2] == ["序号", "能碳管理中心名称", "所属企业名称", "所在县区", "行业", "备注"]
    body = rows[3:]
    assert [row[:4] for row in body] == [
        [1, "郑州甲钢铁数字化能碳管理中心", "郑州甲钢铁有限公司", "金水区"],
        [2, "洛阳乙化工能碳管理中心", "洛阳乙化工有限公司", "涧西区"]]
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.freeze_panes == "A4"
    assert sheet.column_dimensions["B"].width > sheet.column_dimensions["A"].width


def test_the_submission_list_shows_each_filing_with_its_key_figures(world, private_storage):
    submission = henan_submission(world)
    with scopes_disabled():
        Evidence.objects.filter(submission=submission, key="annual_tce").update(value=Decimal("181234.5"))
        content = submission_list_xlsx(submission.program, [submission])
        sheet = load_workbook(io.BytesIO(content)).active
    rows = _rows(content)
    header = rows[2]
    assert header[:7] == ["序号", "企业名称", "统一社会信用代码", "所在地区", "申报类型", "状态", "提交时间"]
    assert "年综合能耗（tce）" in header
    row = rows[3]
    assert row[1] == world.tenant_a.name and row[2] == world.tenant_a.credit_code
    assert row[5] == "已提交"
    assert isinstance(row[6], dt.datetime) and "年" in sheet.cell(row=4, column=7).number_format
    assert row[header.index("年综合能耗（tce）")] == pytest.approx(181234.5)
    assert sheet.freeze_panes == "A4"


def test_the_excel_views_are_for_officials_over_filed_submissions_in_reach(client, world, private_storage):
    filed = henan_submission(world)
    henan_submission(world, enterprise=world.tenant_b, changes={"center_name": "洛阳乙化工能碳管理中心"})
    henan_submission(world, filed=False, changes={"center_name": "郑州甲的草稿中心"})
    code = filed.program.code
    summary = reverse("applications:program_summary_table", kwargs={"code": code})
    listing = reverse("applications:program_submission_list", kwargs={"code": code})
    login(client, world.user("zhengzhou_reviewer"))
    response = client.get(summary)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith(f'attachment; filename="{code}-summary-')
    names = [row[1] for row in _rows(response.content)[3:]]
    assert names == ["郑州甲钢铁数字化能碳管理中心"], "only filed submissions in the reviewer's reach"
    login(client, world.user("henan_officer"))
    names = [row[2] for row in _rows(client.get(summary).content)[3:]]
    assert sorted(names) == ["洛阳乙化工有限公司", "郑州甲钢铁有限公司"]
    assert client.get(listing).status_code == 200
    # Enterprise users, experts and officials of another province: the tables do not exist for them.
    for role in ("a_admin", "outsider_admin", "expert", "xuhui_reviewer"):
        login(client, world.user(role))
        assert client.get(summary).status_code == 404, role
        assert client.get(listing).status_code == 404, role
        assert client.post(summary).status_code == 404, role
    login(client, world.user("henan_officer"))
    assert client.post(summary).status_code == 405
    unknown = reverse("applications:program_summary_table", kwargs={"code": "no_such_program"})
    assert client.get(unknown).status_code == 404
    client.logout()
    assert client.get(summary).status_code == 302


def test_officials_find_their_programs_tables_on_the_submissions_page(client, world):
    from applications.services import programs_load
    from tests.conftest import login

    programs_load()
    login(client, world.user("zhengzhou_reviewer"))
    page = client.get(reverse("applications:submission_list")).content.decode()
    assert reverse("applications:program_summary_table", kwargs={"code": "henan_dcmc_2023"}) in page
    assert reverse("applications:program_summary_table", kwargs={"code": "shanghai_emc_2024"}) not in page
    login(client, world.user("a_admin"))
    assert 'id="program-tables"' not in client.get(reverse("applications:submission_list")).content.decode()
