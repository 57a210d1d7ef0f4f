"""`manage.py load_programs`: programs are data, loaded idempotently, versioned by content."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from applications.models import Program
from applications.services import PROGRAMS_DIR, programs_load
from portal.models import AuditEntry

SHIPPED = {"henan_dcmc_2023": ("410000", "豫工信办节〔2023〕79号"),
           "shanghai_emc_2024": ("310000", "沪经信节〔2024〕138号"),
           "henan_contest_2025": ("410000", "2025年河南省工业绿色低碳发展创新大赛工作方案")}


@pytest.fixture
def programs_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "programs"
    shutil.copytree(PROGRAMS_DIR, directory)
    return directory


def test_shipped_programs_load(db):
    out = io.StringIO()
    call_command("load_programs", stdout=out)
    for code, (region_code, document) in SHIPPED.items():
        program = Program.objects.get(code=code)
        assert (program.region.code, program.document, program.version) == (region_code, document, 1)
        assert program.name and program.name_en
        assert program.definition["description"]
        assert program.definition["code"] == code
    assert "3 program(s) loaded" in out.getvalue()


def test_loading_again_changes_nothing(db, programs_dir):
    programs_load(directory=programs_dir)
    audit_rows = AuditEntry.objects.count()
    result = programs_load(directory=programs_dir)
    assert sorted(result.unchanged) == sorted(SHIPPED)
    assert result.created == result.updated == []
    assert AuditEntry.objects.count() == audit_rows
    assert set(Program.objects.values_list("version", flat=True)) == {1}


def test_version_goes_up_only_when_the_file_changed(db, programs_dir):
    programs_load(directory=programs_dir)
    path = programs_dir / "henan_dcmc_2023.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "closes: 2023-10-31\n", encoding="utf-8")
    result = programs_load(directory=programs_dir)
    assert result.updated == ["henan_dcmc_2023"]
    program = Program.objects.get(code="henan_dcmc_2023")
    assert program.version == 2
    assert program.definition["closes"] == "2023-10-31"
    assert program.definition["version"] == 2  # the stored copy never contradicts its row
    assert Program.objects.get(code="shanghai_emc_2024").version == 1
    programs_load(directory=programs_dir)
    assert Program.objects.get(code="henan_dcmc_2023").version == 2
    # An author who bumps the file's version to jump ahead gets that version.
    path.write_text(path.read_text(encoding="utf-8").replace("version: 1", "version: 5"), encoding="utf-8")
    programs_load(directory=programs_dir)
    assert Program.objects.get(code="henan_dcmc_2023").version == 5


def test_a_bad_file_is_named_and_does_not_block_the_others(db, programs_dir):
    (programs_dir / "broken_2026.yaml").write_text("code: broken_2026\nname: 坏文件\nregion: '410000'\n",
                                                   encoding="utf-8")
    (programs_dir / "nowhere_2026.yaml").write_text(
        "code: nowhere_2026\nname: 无此地区\nregion: '999999'\ndocument: x\nversion: 1\ndescription: x\n",
        encoding="utf-8")
    (programs_dir / "garbled.yaml").write_text("code: [unclosed\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 program file"):
        call_command("load_programs", "--dir", str(programs_dir), stdout=io.StringIO(), stderr=err)
    messages = err.getvalue()
    assert "broken_2026.yaml: missing required key(s): document, version, description" in messages
    assert "nowhere_2026.yaml: unknown region code '999999'" in messages
    assert "garbled.yaml: not valid YAML" in messages
    assert set(Program.objects.values_list("code", flat=True)) == set(SHIPPED)


def test_code_must_match_the_file_name(db, programs_dir):
    path = programs_dir / "henan_dcmc_2023.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("code: henan_dcmc_2023", "code: other"),
                    encoding="utf-8")
    result = programs_load(directory=programs_dir)
    assert [str(e) for e in result.errors] == [
        f"{path}: 'code' (other) must equal the file name (henan_dcmc_2023)"]
    assert not Program.objects.filter(code__in=["other", "henan_dcmc_2023"]).exists()
