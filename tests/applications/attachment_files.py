"""Real files for the attachment tests and the walk, built in the test: a valid PDF, images made
with Pillow, Office files, a program with attachment kinds of every shape."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

from tests.applications.core_definition import core_definition


def pdf_bytes(text: str = "Nengtan test", *, pad_to: int = 0) -> bytes:
    """A one-page PDF with a correct cross-reference table; `pad_to` pads it (with a comment
    before the trailer, still valid) to that many bytes."""
    content = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    def tail(xref: int) -> bytes:
        return (b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
                + b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
                + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))

    if pad_to:
        # A comment line before the cross-reference table: the file stays valid, exactly pad_to long.
        padding = pad_to - len(out) - len(tail(pad_to)) - 2
        out += b"%" + b"x" * max(padding, 0) + b"\n"
    out += tail(len(out))
    return bytes(out)


def image_bytes(fmt: str, size: tuple[int, int], *, orientation: int | None = None,
                mode: str = "RGB") -> bytes:
    """A real image; the left half red and the right half blue, so a turn shows in the pixels."""
    image = Image.new(mode, size, "blue" if mode == "RGB" else (0, 0, 255, 128))
    left = Image.new(mode, (size[0] // 2, size[1]), "red" if mode == "RGB" else (255, 0, 0, 255))
    image.paste(left, (0, 0))
    out = io.BytesIO()
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, format=fmt, exif=exif)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def xlsx_bytes() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["项目", "金额"])  # type: ignore[union-attr]
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def docx_bytes(*, main_first: bool = True) -> bytes:
    """A minimal Word document. `main_first=False` puts a 12 KiB picture first, as some editors
    do, so libmagic (which reads the first 8 KiB) sees only a zip: the container must decide."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>测试</w:t></w:r></w:p></w:body></w:document>'),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as container:
        if not main_first:
            container.writestr("docProps/thumbnail.jpeg", random.Random(1).randbytes(12 * 1024),
                               compress_type=zipfile.ZIP_STORED)
        for name, text in parts.items():
            container.writestr(name, text)
    return out.getvalue()


def elf_bytes() -> bytes:
    """A real program of this machine (ELF)."""
    return Path("/bin/true").read_bytes()


def pe_bytes() -> bytes:
    """The head of a Windows program (MZ … PE)."""
    head = bytearray(b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44)
    head[0x3C:0x40] = (0x80).to_bytes(4, "little")
    head += b"\x00" * (0x80 - len(head)) + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 200
    return bytes(head)


def attachment_definition(code: str = "test_attach_2026", *, region: str = "410000") -> dict[str, Any]:
    """The core test definition with attachment kinds of every shape: the licence (PDF or JPG,
    ≤ 1 MB, at most 2), photos (PNG or JPG, at most 3), forms (docx or xlsx), the special audit
    report (PDF only, required when investment ≥ 100), and one that applies to parks only."""
    definition = core_definition(code)
    definition["region"] = region
    definition["eligibility"][0]["region"] = region
    definition["attachments"] = [
        {"key": "licence", "label": {"zh": "营业执照", "en": "Licence"}, "types": ["pdf", "jpg"],
         "required": True, "max_size_mb": "1", "max_count": 2},
        {"key": "photos", "label": {"zh": "现场照片", "en": "Photos"}, "types": ["png", "jpg"],
         "max_count": 3},
        {"key": "forms", "label": {"zh": "附表", "en": "Forms"}, "types": ["docx", "xlsx"]},
        {"key": "audit_report", "label": {"zh": "专项审计报告", "en": "Audit report"}, "types": ["pdf"],
         "required_if": {"field": "investment", "gte": 100}},
        {"key": "park_members", "label": {"zh": "园区成员名单", "en": "Park members"}, "types": ["pdf"],
         "applies_if": {"variant": "park"}},
    ]
    return definition
