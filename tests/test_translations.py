"""The English catalog is complete: every Chinese UI string has an English translation, none is
fuzzy, the placeholders survive translation, and the compiled .mo says what the .po says.

Regenerate the catalog with the command in the header of locale/en/LC_MESSAGES/django.po, fill in
every empty or fuzzy msgstr, then run `manage.py compilemessages --ignore=.venv --ignore=var`.

The catalog is read with a small parser of its own (the product does not depend on polib).
"""

from __future__ import annotations

import ast
import gettext as gettext_module
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext

from metering.alarms.models import AlarmKind, AlarmStatus
from metering.outbox.models import OutboxMessage
from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$')
PERCENT = re.compile(r"%\((\w+)\)|%[sd]")
BRACE = re.compile(r"\{(\w*)\}")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"django.po:{self.line} {self.msgid!r}"


def _string(quoted: str) -> str:
    return ast.literal_eval(quoted)  # PO strings are C-escaped, like Python's


def read_catalog(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None

    def new_entry(number: int) -> Entry:
        entry = Entry(line=number)
        entries.append(entry)
        return entry

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):  # blank, or an obsolete entry
            target = None
            continue
        if line.startswith("#"):
            if current is None or current.msgstr:
                current = new_entry(number)
            if line.startswith("#,"):
                current.flags.update(flag.strip() for flag in line[2:].split(","))
            target = None
            continue
        match = KEYWORD.match(line)
        if match:
            keyword, index, quoted = match.groups()
            if keyword in ("msgctxt", "msgid") and (current is None or current.msgstr):
                current = new_entry(number)
            assert current is not None
            value = _string(quoted)
            if keyword.startswith("msgstr"):
                slot = int(index) if index is not None else 0
                current.msgstr[slot] = value
                target = ("msgstr", slot)
            else:
                setattr(current, keyword, value)
                target = (keyword, None)
            continue
        assert line.startswith('"') and current is not None and target is not None, (
            f"django.po:{number}: cannot read {raw!r}")
        name, slot = target
        if name == "msgstr":
            current.msgstr[slot or 0] += _string(line)
        else:
            setattr(current, name, getattr(current, name) + _string(line))
    return entries


CATALOG = read_catalog(PO)
MESSAGES = [e for e in CATALOG if not (e.msgid == "" and e.msgctxt is None)]


def test_the_catalog_is_read_whole() -> None:
    headers = [e for e in CATALOG if e.msgid == "" and e.msgctxt is None]
    assert len(headers) == 1 and "Plural-Forms: nplurals=2;" in headers[0].msgstr[0]
    assert all(e.msgid for e in MESSAGES)
    assert len(MESSAGES) > 1000


def test_every_string_has_an_english_translation() -> None:
    untranslated = []
    for entry in MESSAGES:
        forms = (0, 1) if entry.msgid_plural is not None else (0,)
        if any(not entry.msgstr.get(form, "").strip() for form in forms):
            untranslated.append(entry.where)
    assert not untranslated, f"{len(untranslated)} untranslated: " + "; ".join(untranslated[:20])


def test_no_translation_is_fuzzy() -> None:
    fuzzy = [e.where for e in MESSAGES if "fuzzy" in e.flags]
    assert not fuzzy, f"{len(fuzzy)} fuzzy: " + "; ".join(fuzzy[:20])


def test_translations_keep_their_placeholders() -> None:
    wrong = []
    for entry in MESSAGES:
        source = entry.msgid_plural if entry.msgid_plural is not None else entry.msgid
        assert source is not None
        for form in entry.msgstr.values():
            if "python-format" in entry.flags and (
                    sorted(set(PERCENT.findall(form))) != sorted(set(PERCENT.findall(source)))):
                wrong.append(f"{entry.where} → {form!r}")
            if "python-brace-format" in entry.flags and (
                    sorted(set(BRACE.findall(form))) != sorted(set(BRACE.findall(source)))):
                wrong.append(f"{entry.where} → {form!r}")
    assert not wrong, "; ".join(wrong)


def test_the_compiled_catalog_matches_the_po_file() -> None:
    with MO.open("rb") as handle:
        compiled = gettext_module.GNUTranslations(handle)
    stale = []
    for entry in MESSAGES:
        assert entry.msgid is not None
        if entry.msgid_plural is not None:
            got = [compiled.ngettext(entry.msgid, entry.msgid_plural, n) for n in (1, 2)]
            expected = [entry.msgstr[0], entry.msgstr[1]]
        elif entry.msgctxt is not None:
            got, expected = [compiled.pgettext(entry.msgctxt, entry.msgid)], [entry.msgstr[0]]
        else:
            got, expected = [compiled.gettext(entry.msgid)], [entry.msgstr[0]]
        if got != expected:
            stale.append(entry.where)
    assert not stale, ("django.mo is out of date (run compilemessages): " + "; ".join(stale[:20]))


def test_new_strings_in_english() -> None:
    with translation.override("en"):
        # board
        assert gettext("看板") == "Board"
        assert gettext("能源看板") == "Energy board"
        assert gettext("一级表计接入率") == "Level 1 meter access rate"
        assert gettext("数据完整率") == "Data completeness"
        day = {"year": 2026, "month": 3, "day": 1}
        assert gettext("%(year)d年%(month)d月%(day)d日") % day == "2026-03-01"
        # alarms
        assert gettext("告警") == "Alarms"
        assert gettext("确认") == "Acknowledge"
        assert str(AlarmKind.RESET.label) == "Register reset"
        assert str(AlarmStatus.CLOSED.label) == "Cleared"
        assert ngettext("%(n)s 条未恢复", "%(n)s 条未恢复", 3) % {"n": 3} == "3 not cleared"
        # reports
        assert gettext("能耗统计分析表") == "Energy consumption analysis"
        assert gettext("万元产值能耗（tce/万元）") == (
            "Energy per 10,000 yuan of output value (tce/10,000 yuan)")
        assert gettext("综合能耗（当量值）") == (
            "Comprehensive energy consumption (calorific-equivalent basis)")
        # outbox (upload to platforms)
        assert gettext("数据上传（一端多传）") == "Upload to platforms"
        assert str(OutboxMessage.Status.ACKNOWLEDGED.label) == "Acknowledged"
        # templates
        rendered = Template('{% load i18n %}{% translate "报表与导出" %} · '
                            '{% blocktranslate count counter=2 %}共 {{ counter }} 个{% plural %}'
                            '共 {{ counter }} 个{% endblocktranslate %}').render(Context())
        assert rendered == "Reports and exports · 2 jobs"
    with translation.override("zh-hans"):
        assert gettext("看板") == "看板"


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "expected"), [
    ("metering:board",
     ["Energy board", "Open alarms", "Level 1 meter access rate", 'data-text-empty="No data"',
      'data-text-level-1="Level 1"']),
    ("metering:alarm_list", ["Alarm list", "Alarm rules", "Acknowledgement"]),
    ("metering:upload_list", ["Upload to platforms", "No upload platform is configured"]),
    ("metering:report_energy", ["Energy consumption analysis", "Reports and exports", "Generate report"]),
    ("metering:report_export", ["Data export", "Export jobs"]),
])
def test_new_pages_render_in_english(client, world, url_name, expected) -> None:  # type: ignore[no-untyped-def]
    login(client, world.user("a_admin"))
    response = client.get(reverse(url_name), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    for text in expected:
        assert text in page, text
    for chinese in ("能源看板", "告警列表", "数据上传", "能耗统计分析表", "报表与导出", "未处理告警"):
        assert chinese not in page
