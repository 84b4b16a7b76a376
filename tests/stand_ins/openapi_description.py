"""GitHub's own OpenAPI description (npm ``@octokit/openapi``, pinned in package.json) as a judge of requests and
answers: the client's and doctor's requests against the operation they target, the double's answers against that
operation's response schema.

Three places where the description cannot be taken literally are handled here, once, each with its reason:
``UNDESCRIBED_ERRORS`` (statuses the description is silent about), ``created`` (typed wrongly), and nullable
enumerations (:func:`_null_in_nullable_enums`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonpatch
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

GENERATED = Path(__file__).parents[2] / "node_modules" / "@octokit" / "openapi" / "generated"
#: The api.github.com description, and the newest GitHub Enterprise Server release the package describes.
DOTCOM = "api.github.com"
GHES = "ghes-3.19"
GHES_RELEASE = "3.19"
#: The version the base document describes; newer versions are ``x-github-breaking-changes`` patches on it.
BASE_API_VERSION = "2022-11-28"
_ROOT = "urn:github-openapi"

#: GitHub documents most error answers of these endpoints nowhere in the description (e.g. a dispatch lists only
#: 200 and 204, although GitHub answers 422 for an unknown input and 400 for an unsupported API version). Every
#: REST error body GitHub sends is ``basic-error`` (``message``, ``documentation_url``), which is what the
#: description itself uses where it does describe an error, so an undescribed error status is judged by it.
UNDESCRIBED_ERROR_SCHEMA = "basic-error"

#: ``created`` is typed ``format: date-time``, yet its own description (and GitHub's behaviour) uses search syntax:
#: ``>=2026-01-05T10:00:00Z``, ``2026-01-01..2026-01-31``. Validating it as a date-time would reject every correct
#: reconciliation query, so it is checked against the search syntax instead.
_MOMENT = r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)?)?"
CREATED_SYNTAX = re.compile(rf"^((>=|<=|>|<)?{_MOMENT}|({_MOMENT}|\*)\.\.({_MOMENT}|\*))$")


@dataclass
class Description:
    name: str
    document: dict[str, Any]
    registry: Registry[Any] = field(init=False)
    #: ``(method, regex, template)``, most specific first.
    routes: list[tuple[str, re.Pattern[str], str]] = field(init=False)

    def __post_init__(self) -> None:
        _null_in_nullable_enums(self.document)
        self.registry = Registry().with_resource(
            _ROOT, Resource.from_contents(self.document, default_specification=DRAFT4)
        )
        self.routes = []
        for template, item in self.document["paths"].items():
            # GitHub takes these three with their slashes unescaped: a file path, ``tags/v1`` of a git ref, and a
            # branch such as ``release/1.2``.
            pattern = re.sub(r"\\\{(path|ref|branch)\\\}", r"(?P<\1>.+)", re.escape(template))
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    self.routes.append((method, re.compile(f"^{pattern}$"), template))
        # Fewer parameters first, then the longer template: .../branches/{branch}/protection before .../{branch}.
        self.routes.sort(key=lambda route: (route[2].count("{"), -len(route[2])))

    @property
    def api_versions(self) -> set[str]:
        versions = {BASE_API_VERSION}
        for item in self.document["paths"].values():
            for operation in item.values():
                if isinstance(operation, dict):
                    versions |= {change["version"] for change in operation.get("x-github-breaking-changes", [])}
        return versions

    def find(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        """The template of the operation ``method path`` targets, and its path parameters; AssertionError if none."""
        for route_method, pattern, template in self.routes:
            match = pattern.match(path)
            if match and route_method == method.lower():
                return template, match.groupdict()
        raise AssertionError(f"{self.name} describes no operation {method} {path}")

    def operation(self, method: str, template: str, api_version: str) -> dict[str, Any]:
        """The operation as it is for ``api_version``: the base document with that version's patches applied."""
        operation = copy.deepcopy(self.document["paths"][template][method.lower()])
        for change in operation.pop("x-github-breaking-changes", []):
            if change["version"] <= api_version:
                patch = change["patch"]
                if isinstance(patch, list):
                    operation = jsonpatch.apply_patch(operation, patch)
                else:
                    operation = _merge_patch(operation, patch)
        return operation

    def resolve(self, node: Mapping[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.registry.resolver().lookup(_ROOT + node["$ref"]).contents
        return dict(node)

    def errors(self, schema: Mapping[str, Any], instance: Any) -> list[str]:
        """Every violation of ``schema`` (may hold ``$ref`` into the document) by ``instance``."""
        validator = OAS30Validator(_rooted(schema), registry=self.registry, format_checker=oas30_format_checker)
        return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in
                validator.iter_errors(instance)]  # fmt: skip

    def parameters(self, operation: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
        found = (self.resolve(parameter) for parameter in operation.get("parameters", []))
        return {parameter["name"]: parameter for parameter in found if parameter["in"] == where}

    def response_schema(self, operation: Mapping[str, Any], status: int) -> dict[str, Any] | None:
        """The JSON schema of the answer ``status``; None when the description says it has no body (204)."""
        described = operation["responses"].get(str(status))
        if described is None:
            return {"$ref": f"#/components/schemas/{UNDESCRIBED_ERROR_SCHEMA}"}
        response = self.resolve(described)
        content = response.get("content", {}).get("application/json")
        return None if content is None else dict(content["schema"])


def _null_in_nullable_enums(node: Any) -> None:
    """Let every ``nullable`` enumeration hold null, as its ``nullable: true`` says it may.

    A job's ``conclusion`` is ``nullable`` with an ``enum`` of its outcomes, and GitHub answers ``null`` until the
    job finishes: the description's own example of an in-progress check run (a job is one) has ``"conclusion":
    null`` against the same schema. OpenAPI 3.0.3 reads ``nullable`` as adding null to the types but not to an
    ``enum``, so a literal validator would refuse every unfinished job; the description means null (71 such
    enumerations on api.github.com), so null joins each of them, in place.
    """
    if isinstance(node, dict):
        enum = node.get("enum")
        if node.get("nullable") is True and isinstance(enum, list) and None not in enum:
            enum.append(None)
        for value in node.values():
            _null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _null_in_nullable_enums(value)


def load(name: str) -> Description:
    return Description(name, json.loads((GENERATED / f"{name}.json").read_text()))


def _rooted(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Point the schema's document-relative references (``$ref``, discriminator mappings) at the registered document."""
    text = json.dumps(schema).replace('"#/', f'"{_ROOT}#/')
    return json.loads(text)  # type: ignore[no-any-return]


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, the other form ``x-github-breaking-changes`` patches take (null removes a key)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """A query or path string as the type its schema declares (what a server parses it as)."""
    kind = schema.get("type")
    if kind == "integer":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


@dataclass(frozen=True)
class Exchange:
    """One request as it went on the wire and the answer it got."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    status: int
    answer: Any


def request_problems(description: Description, exchange: Exchange, api_prefix: str = "") -> list[str]:
    """Everything about the request the operation it targets does not allow; [] when GitHub would accept it."""
    url = urlsplit(exchange.url)
    path = url.path[len(api_prefix) :] if api_prefix and url.path.startswith(api_prefix) else url.path
    headers = {name.lower(): value for name, value in exchange.headers.items()}
    version = headers.get("x-github-api-version", BASE_API_VERSION)
    problems = []
    if version not in description.api_versions:
        problems.append(f"API version {version} is not one {description.name} describes")
    if headers.get("accept") != "application/vnd.github+json":
        problems.append(f"Accept is {headers.get('accept')!r}, not GitHub's media type")
    if not headers.get("user-agent"):
        problems.append("no User-Agent (GitHub requires one)")
    template, path_values = description.find(exchange.method, path)
    operation = description.operation(exchange.method, template, version)
    for name, parameter in description.parameters(operation, "path").items():
        value = _coerce(path_values[name], parameter["schema"])
        problems += [f"path {name}: {error}" for error in description.errors(parameter["schema"], value)]
    declared = description.parameters(operation, "query")
    for name, values in parse_qs(url.query, keep_blank_values=True).items():
        if name not in declared:
            problems.append(f"query parameter {name!r} is not one {template} takes")
            continue
        for value in values:
            if name == "created":
                if not CREATED_SYNTAX.match(value):
                    problems.append(f"created {value!r} is not GitHub's search syntax")
                continue
            schema = declared[name]["schema"]
            problems += [f"query {name}: {error}" for error in description.errors(schema, _coerce(value, schema))]
    problems += _body_problems(description, operation, exchange.body)
    return [f"{exchange.method} {path}: {problem}" for problem in problems]


def _body_problems(description: Description, operation: Mapping[str, Any], raw: bytes | None) -> list[str]:
    described = operation.get("requestBody")
    if described is None:
        return [] if not raw else ["a body, but the operation takes none"]
    if not raw:
        return ["no body, but the operation requires one"] if described.get("required") else []
    body = json.loads(raw)
    schema = description.resolve(described["content"]["application/json"]["schema"])
    problems = description.errors(schema, body)
    # The schemas leave additionalProperties open, but GitHub refuses a key it does not know ("is not a permitted
    # key", 422; 400 on GHES before 3.21): so a key the schema does not list is a problem, as it is on GitHub.
    unknown = sorted(set(body) - set(schema.get("properties", {}))) if isinstance(body, dict) else []
    return problems + [f"body key {key!r} is not one the operation takes" for key in unknown]


def answer_problems(description: Description, exchange: Exchange, api_prefix: str = "") -> list[str]:
    """Everything about the answer the operation's response schema does not allow."""
    path = urlsplit(exchange.url).path
    path = path[len(api_prefix) :] if api_prefix and path.startswith(api_prefix) else path
    version = {k.lower(): v for k, v in exchange.headers.items()}.get("x-github-api-version", BASE_API_VERSION)
    template, _ = description.find(exchange.method, path)
    operation = description.operation(exchange.method, template, version)
    schema = description.response_schema(operation, exchange.status)
    where = f"{exchange.method} {path} -> {exchange.status}"
    if schema is None:
        return [] if exchange.answer is None else [f"{where}: a body, but the description says none"]
    return [f"{where}: {error}" for error in description.errors(schema, exchange.answer)]


def described_statuses(description: Description, method: str, template: str, api_version: str) -> set[int]:
    operation = description.operation(method, template, api_version)
    return {int(status) for status in operation["responses"]}
