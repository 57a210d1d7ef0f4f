"""Attachments: which kinds a submission needs and whether what is attached meets them.

Uploading and serving files (type by content, size limits, thumbnails, private storage) build
on this module; what counts as complete lives here, next to the kinds' rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from applications.definitions import AttachmentKind, ProgramDefinition
from applications.values import Context, condition_holds, label_of


@dataclass
class KindStatus:
    kind: AttachmentKind
    label: str
    count: int
    required: bool
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def kind_required(kind: AttachmentKind, *, values: Mapping[str, Any], context: Context) -> bool:
    if kind.required or kind.min_count > 0:
        return True
    return kind.required_if is not None and condition_holds(kind.required_if, values=values, context=context)


def attachments_check(definition: ProgramDefinition, *, counts: Mapping[str, int], values: Mapping[str, Any],
                      context: Context) -> list[KindStatus]:
    """Each applicable attachment kind with its count and what is still missing."""
    statuses = []
    for kind in definition.attachments:
        if kind.applies_if is not None and not condition_holds(
                kind.applies_if, values=values, context=context):
            continue
        count = counts.get(kind.key, 0)
        required = kind_required(kind, values=values, context=context)
        status = KindStatus(kind=kind, label=label_of(kind.label), count=count, required=required)
        least = max(kind.min_count, 1) if required else 0
        if count < least:
            if least == 1:
                status.problems.append(_("请上传%(kind)s") % {"kind": status.label})
            else:
                status.problems.append(_("%(kind)s至少 %(least)s 个，现有 %(count)s 个") % {
                    "kind": status.label, "least": least, "count": count})
        if kind.max_count is not None and count > kind.max_count:
            status.problems.append(_("%(kind)s最多 %(most)s 个，现有 %(count)s 个") % {
                "kind": status.label, "most": kind.max_count, "count": count})
        statuses.append(status)
    return statuses
