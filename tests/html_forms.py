"""Read the values a page's POST form would send, so a test can send them back (form replay).

The tenancy walk fetches an edit page as the platform admin, takes the form as filled in, changes
one text field and posts it as a role that must not change the object: a valid body, so a view
that forgot its rights check would save it, and the walk would see the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

# Inputs whose value a browser does not send as typed text.
UNSENT_INPUT_TYPES = frozenset({"submit", "button", "image", "reset", "file"})
# The field changed on replay: the first of these the form has, else its first text field.
PREFERRED_TEXT_FIELDS = ("name", "address", "contact_name", "topic_pattern", "host")
TEXT_INPUT_TYPES = frozenset({"text", "", "email", "search", "tel", "url"})


@dataclass
class Form:
    action: str
    values: dict[str, list[str]] = field(default_factory=dict)
    text_fields: list[str] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._multiple = False
        self._option_value: str | None = None
        self._option_text = ""
        self._option_selected = False
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            if values.get("method", "get").lower() == "post":
                self._form = Form(action=values.get("action", ""))
                self.forms.append(self._form)
            return
        if self._form is None or "disabled" in values:
            return
        name = values.get("name")
        if tag == "input" and name:
            kind = values.get("type", "text").lower()
            if kind in UNSENT_INPUT_TYPES:
                return
            if kind in ("checkbox", "radio"):
                if "checked" in values:
                    self._form.add(name, values.get("value", "on"))
                return
            self._form.add(name, values.get("value", ""))
            if kind in TEXT_INPUT_TYPES and name != "csrfmiddlewaretoken":
                self._form.text_fields.append(name)
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
            self._multiple = "multiple" in values
        elif tag == "option" and self._select is not None:
            self._option_value = values.get("value")
            self._option_text = ""
            self._option_selected = "selected" in values
        elif tag == "textarea" and name:
            self._textarea, self._textarea_text = name, ""
            self._form.text_fields.append(name)

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea_text += data
        elif self._option_value is None and self._select is not None:
            self._option_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "option" and self._select is not None and self._form is not None:
            value = self._option_value if self._option_value is not None else self._option_text.strip()
            if self._select_first is None:
                self._select_first = value
            if self._option_selected:
                self._form.add(self._select, value)
                self._select_chosen = True
            self._option_value = None
        elif tag == "select" and self._select is not None and self._form is not None:
            if not self._select_chosen and not self._multiple and self._select_first is not None:
                self._form.add(self._select, self._select_first)  # what a browser sends
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.add(self._textarea, self._textarea_text.lstrip("\n"))
            self._textarea = None


def post_form_for(html: str, url: str) -> Form | None:
    """The POST form of the page that posts back to `url` itself (action empty or the same path)."""
    parser = _FormParser()
    parser.feed(html)
    path = urlsplit(url).path
    for form in parser.forms:
        if not form.action or urlsplit(form.action).path == path:
            return form
    return None


def replay_values(form: Form, *, marker: str) -> dict[str, list[str]]:
    """The form's values with one text field changed (so saving them is a visible change)."""
    values = {name: list(items) for name, items in form.values.items()}
    candidates = [name for name in PREFERRED_TEXT_FIELDS if name in values]
    candidates += [name for name in form.text_fields if name in values and name not in candidates]
    if candidates:
        name = candidates[0]
        values[name] = [(values[name][0] if values[name] else "") + marker]
    return values
