"""Unified social credit code (统一社会信用代码) per GB 32100-2015.

The code has 18 characters from a 31-character alphabet (digits and capital letters
without I, O, Z, S, V). The last one is a check character computed from the first 17.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_CODE_LENGTH = 18
# 登记管理部门码 (first character): the registration authority kinds the standard defines.
REGISTRATION_AUTHORITY_CODES = "123456789ANY"


def credit_code_check_character(first17: str) -> str:
    """The check character for the first 17 characters of a credit code."""
    total = sum(
        CREDIT_CODE_ALPHABET.index(char) * weight
        for char, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def normalize_credit_code(value: str) -> str:
    return (value or "").strip().upper()


def credit_code_problem(value: str) -> str | None:
    """Say what is wrong with a credit code, or None when it is valid."""
    code = normalize_credit_code(value)
    if len(code) != CREDIT_CODE_LENGTH:
        return str(_("统一社会信用代码应为18位，当前为%(n)d位。") % {"n": len(code)})
    bad = sorted({c for c in code if c not in CREDIT_CODE_ALPHABET})
    if bad:
        return str(
            _("统一社会信用代码含有不允许的字符：%(chars)s（不使用 I、O、Z、S、V）。")
            % {"chars": "".join(bad)}
        )
    if code[0] not in REGISTRATION_AUTHORITY_CODES:
        return str(_("统一社会信用代码第1位（登记管理部门码）无效：%(c)s。") % {"c": code[0]})
    if not code[2:8].isdigit():
        return str(_("统一社会信用代码第3–8位应为行政区划代码（数字）。"))
    expected = credit_code_check_character(code[:17])
    if code[17] != expected:
        return str(
            _("统一社会信用代码校验位错误：第18位应为 %(expected)s，实际为 %(actual)s。")
            % {"expected": expected, "actual": code[17]}
        )
    return None


def validate_credit_code(value: str) -> None:
    problem = credit_code_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_credit_code")


def make_credit_code(first17: str) -> str:
    """Complete 17 characters into a valid code (used to build demo and test data)."""
    return first17 + credit_code_check_character(first17)
