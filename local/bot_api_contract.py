"""The Telegram Bot API as a checkable contract, driven by contracts/telegram-bot-api/api.json.

`BotApiContract.check(method, params)` raises `ContractViolation` for a call the real Bot API
would refuse, with the description the server would answer ("Bad Request: ...", or
"Not Found" for an unknown method) made precise enough to find the bug. Everything is read
from the spec: the methods and types, required fields, field types (objects and arrays
recursively, unions, abstract types such as BotCommandScope resolved by their subtypes),
and the limits the descriptions state in prose:

- "N-M characters" (counted with `len(str)`, after HTML parsing when parse_mode is HTML) and
  "N-M bytes" (counted in UTF-8) on string fields;
- "must be one of "a", "b" or "c"" value lists, the "must be X" / "always "X"" type tags of
  subtypes, and "Choose one ...: a for ..., b for ..." lists (sendChatAction's action);
- "Required if X is not specified" / "required if X is True|False" conditions;
- "Exactly one of the fields other than A, B, and C must be used" (InlineKeyboardButton) and
  the other "exactly/at most one of the ... fields" rules of a type;
- "String can be used instead of this object" (a KeyboardButton may be a plain string).

On top of the spec: parse_mode (and quote_parse_mode, ...) must be "HTML", "MarkdownV2" or
"Markdown", and text with parse_mode "HTML" must be well-formed Telegram HTML (only the tags
Telegram supports, properly nested) - the usual way a bot breaks is an unescaped "<" from user
input, which the real server answers with "Bad Request: can't parse entities: ...".

Deliberately stricter than Telegram, to catch bugs early:
- an unknown parameter or object field is rejected (Telegram silently ignores it, so a typo
  such as `reply_makrup` would otherwise go unnoticed);
- method names must be spelled exactly (Telegram ignores their case);
- parse_mode must be spelled exactly (Telegram ignores its case and accepts "");
- String fields take only strings (Telegram also converts numbers).
A `None` (JSON null) value counts as an absent field, as it does for Telegram.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "contracts" / "telegram-bot-api" / "api.json"

PARSE_MODES = ("HTML", "MarkdownV2", "Markdown")
SCALARS = frozenset({"Integer", "Float", "String", "Boolean", "True", "InputFile"})
# The tags Telegram's HTML parse mode understands (https://core.telegram.org/bots/api#html-style).
HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "tg-emoji", "tg-time", "code", "pre", "blockquote",
    }
)  # fmt: skip
DISCRIMINATORS = frozenset({"type", "status", "source"})

_LENGTH = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_CHOICES = re.compile(r"\b[Mm]ust be (?:one of|either)\b(.*?)(?:\.(?:\s|$)|$)")
_QUOTED = re.compile(r'"([^"]+)"')
_TAG_VALUE = re.compile(r'(?:must be|always) "?([a-z_]+)"?$')
_CHOOSE_ONE = re.compile(r"Choose one[^:]*:(.*)$")
_ACTION_WORD = re.compile(r"\b([a-z]+(?:_[a-z]+)*) (?:for|or)\b")
_REQUIRED_IF_ABSENT = re.compile(
    r"[Rr]equired if (\w+(?: and \w+)*) (?:is|are) not specified"
    r"|[Rr]equired if (\w+) isn't specified"
)
_REQUIRED_IF_PRESENT = re.compile(r"[Rr]equired if (\w+) is specified")
_REQUIRED_IF_BOOL = re.compile(r"[Rr]equired if (\w+) is (True|False)")
_ONE_OF_OTHER = re.compile(
    r"(Exactly|At most) one of the fields other than ([\w, ]+?) must be used", re.IGNORECASE
)
_ONE_OF_NAMED = re.compile(r"(Exactly|At most) one of the fields (\w+(?: or \w+)+) must be used")
_ONE_OF_OPTIONAL = re.compile(r"(exactly|at most) one of the optional fields", re.IGNORECASE)
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")


class ContractViolation(Exception):
    """A call the real Bot API would refuse; `description` is what it would answer."""

    def __init__(self, description: str, *, error_code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.error_code = error_code


@dataclass(frozen=True)
class Condition:
    """When an optional field becomes required."""

    kind: str  # "absent": all `names` absent; "present": names[0] given; "equals": == value
    names: tuple[str, ...]
    value: bool | None = None

    def holds(self, given: Mapping[str, Any]) -> bool:
        if self.kind == "absent":
            return all(given.get(name) is None for name in self.names)
        if self.kind == "present":
            return given.get(self.names[0]) is not None
        return given.get(self.names[0]) is self.value

    def __str__(self) -> str:
        if self.kind == "absent":
            verb = "are" if len(self.names) > 1 else "is"
            return f"required if {' and '.join(self.names)} {verb} not specified"
        if self.kind == "present":
            return f"required if {self.names[0]} is specified"
        return f"required if {self.names[0]} is {self.value}"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str
    length: tuple[int, int, str] | None = None  # (min, max, "characters" | "bytes")
    choices: tuple[str, ...] | None = None
    tag: str | None = None  # the constant value of a subtype's discriminator field
    required_if: Condition | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> FieldSpec:
        name = str(raw["name"])
        types = tuple(str(t) for t in raw.get("types", ()))
        description = str(raw.get("description", ""))
        length = None
        if match := _LENGTH.search(description):
            length = (int(match[1]), int(match[2]), match[3])
        choices: tuple[str, ...] | None = None
        if name == "parse_mode" or name.endswith("_parse_mode"):
            choices = PARSE_MODES
        elif match := _CHOICES.search(description):
            choices = tuple(_QUOTED.findall(match[1])) or None
        elif match := _CHOOSE_ONE.search(description):
            choices = tuple(dict.fromkeys(_ACTION_WORD.findall(match[1]))) or None
        tag = None
        if name in DISCRIMINATORS and (match := _TAG_VALUE.search(description)):
            tag = match[1]
        return cls(
            name=name,
            types=types,
            required=bool(raw.get("required", False)),
            description=description,
            length=length,
            choices=choices,
            tag=tag,
            required_if=_condition(description),
        )


def _condition(description: str) -> Condition | None:
    if match := _REQUIRED_IF_ABSENT.search(description):
        names = (match[1] or match[2]).split(" and ")
        return Condition("absent", tuple(names))
    if match := _REQUIRED_IF_PRESENT.search(description):
        return Condition("present", (match[1],))
    if match := _REQUIRED_IF_BOOL.search(description):
        return Condition("equals", (match[1],), match[2] == "True")
    return None


@dataclass(frozen=True)
class OneOfRule:
    """'Exactly one' / 'at most one' of some fields of an object must be used."""

    exactly: bool
    among: frozenset[str] | None  # None: all fields except `exempt`
    exempt: frozenset[str] = frozenset()
    wording: str = ""

    def fields(self, spec: TypeSpec) -> list[str]:
        if self.among is not None:
            return sorted(self.among)
        return [name for name in spec.fields if name not in self.exempt]


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: dict[str, FieldSpec]
    subtypes: tuple[str, ...] = ()
    rules: tuple[OneOfRule, ...] = ()
    string_allowed: bool = False  # "String can be used instead of this object"
    has_fields: bool = True

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> TypeSpec:
        fields = {f.name: f for f in map(FieldSpec.parse, raw.get("fields") or ())}
        description = " ".join(str(line) for line in raw.get("description") or ())
        optional = frozenset(name for name, f in fields.items() if not f.required)
        rules: list[OneOfRule] = []
        if match := _ONE_OF_OTHER.search(description):
            exempt = frozenset(n for n in re.split(r",\s*(?:and\s+)?|\s+and\s+", match[2]) if n)
            rules.append(OneOfRule(match[1].lower() == "exactly", None, exempt, match[0]))
        elif match := _ONE_OF_NAMED.search(description):
            among = frozenset(match[2].split(" or "))
            rules.append(OneOfRule(match[1].lower() == "exactly", among, wording=match[0]))
        elif match := _ONE_OF_OPTIONAL.search(description):
            rules.append(OneOfRule(match[1].lower() == "exactly", optional, wording=match[0]))
        return cls(
            name=str(raw["name"]),
            fields=fields,
            subtypes=tuple(str(s) for s in raw.get("subtypes") or ()),
            rules=tuple(rules),
            string_allowed="String can be used instead of this object" in description,
            has_fields="fields" in raw,
        )

    @property
    def tags(self) -> dict[str, str]:
        return {name: f.tag for name, f in self.fields.items() if f.tag is not None}


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: dict[str, FieldSpec]
    returns: tuple[str, ...] = field(default=())


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "Boolean"),
    (int, "Integer"),
    (float, "Float"),
    (str, "String"),
    ((bytes, bytearray), "bytes"),
    (list, "Array"),
    (Mapping, "object"),
)


def _kind(value: object) -> str:
    """A value's JSON-ish kind, for messages."""
    if value is None:
        return "null"
    if _is_file_tuple(value):
        return "file tuple"
    for types, name in _KINDS:
        if isinstance(value, types):
            return name
    return type(value).__name__


def _is_file_tuple(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], bytes | bytearray)
        and isinstance(value[2], str)
    )


_SCALAR_CHECKS: dict[str, Callable[[object], bool]] = {
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "True": lambda v: v is True,
    "InputFile": lambda v: isinstance(v, str | bytes | bytearray) or _is_file_tuple(v),
}


def html_plain_text(text: str) -> str:
    """The text Telegram shows for HTML-formatted `text`: tags removed, entities decoded."""
    return html.unescape(_HTML_TAG.sub("", text))


def html_error(text: str) -> str | None:
    """Why Telegram could not parse `text` as HTML, or None if it can."""
    stack: list[tuple[str, int]] = []
    position = 0
    while (start := text.find("<", position)) != -1:
        offset = len(text[:start].encode())
        match = _HTML_TAG.match(text, start)
        if match is None:
            following = re.match(r"</?([^\s>]*)", text[start:])
            name = following[1] if following else ""
            return f'Unsupported start tag "{name}" at byte offset {offset}'
        closing, name = match[1] == "/", match[2].lower()
        if name not in HTML_TAGS:
            return (
                f'Unsupported {"end" if closing else "start"} tag "{name}" at byte offset {offset}'
            )
        if closing:
            if not stack:
                return f"Unexpected end tag at byte offset {offset}"
            expected, _ = stack.pop()
            if expected != name:
                return (
                    f'Unmatched end tag at byte offset {offset}, expected "</{expected}>",'
                    f' found "</{name}>"'
                )
        else:
            stack.append((name, offset))
        position = match.end()
    if stack:
        name, _ = stack[-1]
        return f'Can\'t find end tag corresponding to start tag "{name}"'
    return None


class BotApiContract:
    """The Bot API methods and types of one api.json, ready to check calls against."""

    def __init__(
        self, version: str, methods: dict[str, MethodSpec], types: dict[str, TypeSpec]
    ) -> None:
        self.version = version
        self.methods = methods
        self.types = types

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> BotApiContract:
        """Parse api.json once per path (the file is ~1 MB); the contract is read-only."""
        return _load(path.resolve())

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BotApiContract:
        methods = {
            str(name): MethodSpec(
                name=str(name),
                fields={f.name: f for f in map(FieldSpec.parse, raw.get("fields") or ())},
                returns=tuple(str(t) for t in raw.get("returns") or ()),
            )
            for name, raw in spec["methods"].items()
        }
        types = {str(name): TypeSpec.parse(raw) for name, raw in spec["types"].items()}
        return cls(str(spec.get("version", "")), methods, types)

    # -- the check -------------------------------------------------------------------------

    def check(self, method: str, params: Mapping[str, Any]) -> None:
        """Raise ContractViolation if the real Bot API would refuse this call."""
        spec = self.methods.get(method)
        if spec is None:
            hint = self._near(method)
            raise ContractViolation(
                f"Not Found: method {method!r} does not exist in {self.version}{hint}",
                error_code=404,
            )
        self._check_fields(spec.fields, params, "", f"parameter of {method}", method)

    def _near(self, method: str) -> str:
        lowered = {name.lower(): name for name in self.methods}
        if method.lower() in lowered:
            return f" (did you mean {lowered[method.lower()]!r}? names are case-sensitive here)"
        return ""

    def _check_fields(
        self,
        fields: Mapping[str, FieldSpec],
        given: Mapping[str, Any],
        prefix: str,
        owner: str,
        where: str,
    ) -> None:
        for name in given:
            if name not in fields:
                if prefix:
                    raise ContractViolation(
                        f'Bad Request: {prefix.rstrip(".")}: unknown field "{name}" in {where}'
                    )
                raise ContractViolation(
                    f'Bad Request: unknown parameter "{name}" for method {where}'
                    " (Telegram would ignore it; the contract rejects it to catch typos)"
                )
        for spec in fields.values():
            value = given.get(spec.name)
            path = f"{prefix}{spec.name}"
            if value is None:
                if spec.required:
                    raise ContractViolation(f"Bad Request: {path} is empty (required {owner})")
                if spec.required_if is not None and spec.required_if.holds(given):
                    raise ContractViolation(
                        f"Bad Request: {path} is empty ({spec.required_if} in {where})"
                    )
                continue
            self._check_value(value, spec.types, path)
            self._check_text(value, spec, given, path)

    def _check_text(
        self, value: object, spec: FieldSpec, siblings: Mapping[str, Any], path: str
    ) -> None:
        if not isinstance(value, str):
            return
        if spec.choices is not None and value not in spec.choices:
            allowed = ", ".join(f'"{choice}"' for choice in spec.choices)
            if spec.name.endswith("parse_mode"):
                raise ContractViolation(
                    f'Bad Request: unsupported parse_mode "{value}" in {path}'
                    f" (use one of {allowed})"
                )
            raise ContractViolation(f'Bad Request: {path} must be one of {allowed}, got "{value}"')
        mode_field = "parse_mode" if spec.name in {"text", "caption"} else f"{spec.name}_parse_mode"
        counted = value
        if siblings.get(mode_field) == "HTML":
            if (problem := html_error(value)) is not None:
                raise ContractViolation(f"Bad Request: can't parse entities: {problem} ({path})")
            counted = html_plain_text(value)
        if spec.length is None:
            return
        low, high, unit = spec.length
        size = len(counted.encode()) if unit == "bytes" else len(counted)
        if low <= size <= high:
            return
        if size == 0:
            raise ContractViolation(f"Bad Request: {path} is empty (must be {low}-{high} {unit})")
        state = "too long" if size > high else "too short"
        raise ContractViolation(
            f"Bad Request: {path} is {state}: {size} {unit}, must be {low}-{high} {unit}"
        )

    # -- types -----------------------------------------------------------------------------

    def _expand(self, types: Iterable[str]) -> list[str]:
        """Abstract types (BotCommandScope, ...) replaced by their concrete subtypes."""
        out: list[str] = []
        for name in types:
            spec = self.types.get(name)
            if spec is not None and spec.subtypes:
                out.extend(self._expand(spec.subtypes))
            else:
                out.append(name)
        return out

    def _check_value(self, value: object, types: tuple[str, ...], path: str) -> None:
        alternatives = self._expand(types)
        if len(alternatives) == 1:
            self._check_one(value, alternatives[0], path)
            return
        tried: list[tuple[int, str, ContractViolation]] = []
        for candidate in alternatives:
            try:
                self._check_one(value, candidate, path)
            except ContractViolation as failed:
                tried.append((self._affinity(value, candidate), candidate, failed))
            else:
                return
        best = max(tried, key=lambda attempt: attempt[0])  # the first of the best
        if best[0] > 1:
            raise best[2]
        for score, candidate, violation in tried:
            spec = self.types.get(candidate)
            if score > 0 and spec is not None and spec.tags:
                raise violation  # the subtype its type tag names
        objects = [self.types[t] for t in alternatives if t in self.types and t not in SCALARS]
        if isinstance(value, Mapping) and objects and len(objects) == len(alternatives):
            raise ContractViolation(self._no_object_matches(value, types, objects, path))
        if best[0] > 0:
            raise best[2]
        raise ContractViolation(
            f"Bad Request: {path} must be {' or '.join(types)}, got {_kind(value)}"
        )

    @staticmethod
    def _no_object_matches(
        value: Mapping[str, Any], types: tuple[str, ...], objects: list[TypeSpec], path: str
    ) -> str:
        tag_fields = {name for spec in objects for name in spec.tags}
        if len(tag_fields) == 1 and all(spec.tags for spec in objects):
            (tag_field,) = tag_fields
            allowed = ", ".join(f'"{spec.tags[tag_field]}"' for spec in objects)
            return (
                f"Bad Request: {path}.{tag_field} must be one of {allowed}"
                f" for {' or '.join(types)}, got {value.get(tag_field)!r}"
            )
        return (
            f"Bad Request: {path} matches none of {' or '.join(types)}"
            f" (got an object with fields {', '.join(sorted(value)) or 'none'})"
        )

    def _affinity(self, value: object, type_name: str) -> int:
        """How well `value` resembles `type_name`: picks the error to report for a union."""
        if type_name.startswith("Array of "):
            return 1 if isinstance(value, list) else 0
        spec = None if type_name in SCALARS else self.types.get(type_name)
        if spec is None:
            return 1 if self._scalar_ok(value, type_name) or _kind(value) == type_name else 0
        if not isinstance(value, Mapping):
            return 1 if spec.string_allowed and isinstance(value, str) else 0
        if any(value.get(name) != tag for name, tag in spec.tags.items()):
            return 0
        score = 1
        if all(value.get(f.name) is not None for f in spec.fields.values() if f.required):
            score += 1
            if all(key in spec.fields for key in value):
                score += 1
        return score

    @staticmethod
    def _scalar_ok(value: object, type_name: str) -> bool:
        check = _SCALAR_CHECKS.get(type_name)
        return check is not None and check(value)

    def _check_one(self, value: object, type_name: str, path: str) -> None:
        if type_name.startswith("Array of "):
            self._check_array(value, type_name, path)
        elif type_name in SCALARS:
            if not self._scalar_ok(value, type_name):
                raise ContractViolation(
                    f"Bad Request: {path} must be {type_name}, got {_kind(value)}"
                )
        elif (spec := self.types.get(type_name)) is None:
            raise ContractViolation(f"Bad Request: {path} has unknown type {type_name} in the spec")
        elif spec.subtypes:
            self._check_value(value, (type_name,), path)
        elif not (spec.string_allowed and isinstance(value, str)):
            self._check_object(value, spec, path)

    def _check_array(self, value: object, type_name: str, path: str) -> None:
        if not isinstance(value, list):
            raise ContractViolation(
                f"Bad Request: {path} must be {type_name} (a JSON array), got {_kind(value)}"
            )
        item_type = type_name.removeprefix("Array of ")
        for index, item in enumerate(value):
            if item is None:
                raise ContractViolation(f"Bad Request: {path}[{index}] is null")
            self._check_value(item, (item_type,), f"{path}[{index}]")

    def _check_object(self, value: object, spec: TypeSpec, path: str) -> None:
        if not isinstance(value, Mapping):
            raise ContractViolation(
                f"Bad Request: {path} must be {spec.name} (a JSON object), got {_kind(value)}"
            )
        if not spec.has_fields:
            return  # a placeholder type such as CallbackGame
        for name, tag in spec.tags.items():
            if value.get(name) is not None and value.get(name) != tag:
                raise ContractViolation(
                    f'Bad Request: {path}.{name} must be "{tag}" in {spec.name},'
                    f" got {value.get(name)!r}"
                )
        self._check_fields(spec.fields, value, f"{path}.", f"field of {spec.name}", spec.name)
        for rule in spec.rules:
            candidates = rule.fields(spec)
            used = [name for name in candidates if value.get(name) not in (None, False)]
            if len(used) > 1 or (rule.exactly and not used):
                raise ContractViolation(
                    f"Bad Request: {path}: {rule.wording[0].lower()}{rule.wording[1:]}"
                    f" in {spec.name}; got {len(used)}: {', '.join(used) or 'none'}"
                )

    # -- form bodies -----------------------------------------------------------------------

    def decode_form_value(self, method: str, name: str, raw: str) -> object:
        """A multipart/urlencoded/query-string value as the server reads it for this field:
        numbers and booleans by the field's types, objects and arrays as JSON, else the string.
        """
        spec = self.methods.get(method)
        field_spec = spec.fields.get(name) if spec is not None else None
        if field_spec is None:
            return raw
        types = set(self._expand(field_spec.types))
        structured = any(t.startswith("Array of ") or t in self.types for t in types - SCALARS)
        decoded: object = raw
        if structured and raw[:1] in {"[", "{"}:
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw
        elif "Integer" in types and re.fullmatch(r"-?\d+", raw):
            decoded = int(raw)
        elif "Float" in types and re.fullmatch(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", raw):
            decoded = float(raw)
        elif types & {"Boolean", "True"} and raw.lower() in {"true", "false"}:
            decoded = raw.lower() == "true"
        return decoded


@lru_cache(maxsize=4)
def _load(path: Path) -> BotApiContract:
    return BotApiContract.from_spec(json.loads(path.read_text(encoding="utf-8")))
