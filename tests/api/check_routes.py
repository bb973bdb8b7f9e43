#!/usr/bin/env python3
"""Holds the three route lists of the service to one another and checks openapi.yaml itself.

* openapi.yaml: every (method, path) operation, and the function it names (`x-lambda-function`);
* template.yaml: the HttpApi events of the functions (the routes in AWS), and each function's
  binary (`Metadata.BuildProperties.Binary`);
* Cargo.toml `[workspace.metadata.lambda.watch.router]`: the local router, whose entries are a
  function name (every method goes to that function) or a list of {method, function}.

A route must exist in all three with the same function. The local router may send more methods
of a path to a function than the API has (the function answers them 405): those are listed, not
refused. A path of the router that no operation of openapi.yaml or the template has is refused.

The spec is validated with openapi-spec-validator, and every example in it (request bodies,
responses, parameters) against its schema, with format checks.

Exit code 0 when everything agrees, 1 with the reasons otherwise.
Usage: python tests/api/check_routes.py [--root REPO]
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_spec
from openapi_spec_validator.readers import read_from_filename
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# The template reader bootstrap.py uses too (CloudFormation's short-form tags).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "localstack"))
from cfn_template import load_template  # noqa: E402

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def route(method: str, path: str) -> tuple[str, str]:
    return method.upper(), path.rstrip("/") or "/"


def openapi_routes(spec: dict) -> tuple[dict, list[str]]:
    routes, problems = {}, []
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            function = operation.get("x-lambda-function")
            if not function:
                problems.append(f"openapi.yaml: {method.upper()} {path} has no x-lambda-function")
            routes[route(method, path)] = function
    return routes, problems


def template_routes(template: dict) -> tuple[dict, list[str]]:
    routes, problems = {}, []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            method, path = props.get("Method"), props.get("Path")
            if not isinstance(method, str) or not isinstance(path, str):
                problems.append(f"template.yaml: {name}.{event_name} has no literal Method and Path")
                continue
            if method.upper() in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD"):
                problems.append(f"template.yaml: {name}.{event_name} uses ANY; name each method")
                continue
            if not binary:
                problems.append(f"template.yaml: {name} has no Metadata.BuildProperties.Binary")
            key = route(method, path)
            if key in routes:
                problems.append(f"template.yaml: {method} {path} is routed twice")
            routes[key] = binary
    return routes, problems


def router_routes(cargo: dict) -> tuple[dict, list[str]]:
    """{path: {method or "*": function}} of the local router."""
    table = cargo.get("workspace", {}).get("metadata", {}).get("lambda", {}).get("watch", {}).get("router")
    if not isinstance(table, dict) or not table:
        return {}, ["Cargo.toml: no [workspace.metadata.lambda.watch.router] table"]
    paths, problems = {}, []
    for path, target in table.items():
        key = route("GET", path)[1]
        if isinstance(target, str):
            paths[key] = {"*": target}
        elif isinstance(target, list):
            methods = {}
            for entry in target:
                if not isinstance(entry, dict) or not {"method", "function"} <= set(entry):
                    problems.append(f"Cargo.toml router: {path}: entry {entry!r} needs method and function")
                    continue
                method = entry["method"].upper()
                if method in methods:
                    problems.append(f"Cargo.toml router: {method} {path} is listed twice")
                methods[method] = entry["function"]
            paths[key] = methods
        else:
            problems.append(f"Cargo.toml router: {path}: expected a function name or a list of tables")
    return paths, problems


def router_function(router: dict, method: str, path: str) -> str | None:
    methods = router.get(path)
    if methods is None:
        return None
    return methods.get(method, methods.get("*"))


def check_examples(spec: dict) -> list[str]:
    """Every example in the spec against its schema (formats included)."""
    base = "urn:openapi.yaml"
    registry = Registry().with_resource(base, Resource.from_contents(spec, default_specification=DRAFT202012))
    problems = []

    def validate(where: str, pointer: list[str], value) -> None:
        fragment = quote("/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in pointer), safe="/~")
        schema = {"$ref": f"{base}#{fragment}"}
        validator = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
        for error in validator.iter_errors(value):
            location = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"openapi.yaml: example {where} at {location}: {error.message}")

    def media(where: str, pointer: list[str], content: dict) -> None:
        for media_type, body in (content or {}).items():
            if "schema" not in body:
                continue
            schema = pointer + ["content", media_type, "schema"]
            if "example" in body:
                validate(f"{where} {media_type}", schema, body["example"])
            for name, example in (body.get("examples") or {}).items():
                example = resolve(spec, example)
                if "value" in example:
                    validate(f"{where} {media_type} '{name}'", schema, example["value"])

    def parameter(where: str, pointer: list[str], param: dict) -> None:
        if "$ref" in param:
            pointer = param["$ref"].removeprefix("#/").split("/")
            param = resolve(spec, param)
        if "example" in param and "schema" in param:
            validate(f"{where} parameter {param['name']}", pointer + ["schema"], param["example"])

    def response(where: str, pointer: list[str], node: dict) -> None:
        if "$ref" in node:
            return  # a shared response: checked once below
        media(where, pointer, node.get("content"))

    for path, item in spec.get("paths", {}).items():
        for i, param in enumerate(item.get("parameters", [])):
            parameter(path, ["paths", path, "parameters", str(i)], param)
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where, at = f"{method.upper()} {path}", ["paths", path, method]
            for i, param in enumerate(operation.get("parameters", [])):
                parameter(where, at + ["parameters", str(i)], param)
            body = operation.get("requestBody") or {}
            if "$ref" not in body:
                media(f"{where} request", at + ["requestBody"], body.get("content"))
            for status, node in operation.get("responses", {}).items():
                response(f"{where} {status}", at + ["responses", status], node)
    for name, node in spec.get("components", {}).get("responses", {}).items():
        response(f"components/responses/{name}", ["components", "responses", name], node)
    return problems


def resolve(spec: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="repository root")
    args = parser.parse_args()
    root: Path = args.root
    problems: list[str] = []

    spec_dict, spec_url = read_from_filename(str(root / "openapi.yaml"))
    try:
        validate_spec(spec_dict, base_uri=spec_url)
    except Exception as error:  # the validator's own error types vary between versions
        problems.append(f"openapi.yaml is not a valid OpenAPI document: {error}")
    else:
        print(f"openapi.yaml: valid OpenAPI {spec_dict.get('openapi')}")
    problems += check_examples(spec_dict)

    spec, found = openapi_routes(spec_dict)
    problems += found
    template, found = template_routes(load_template(root / "template.yaml"))
    problems += found
    with (root / "Cargo.toml").open("rb") as f:
        router, found = router_routes(tomllib.load(f))
    problems += found

    # Each route of the API: in the spec and the template, with the same function, and routed to
    # that function locally.
    for key in sorted(set(spec) | set(template)):
        method, path = key
        if key not in spec:
            problems.append(f"{method} {path}: in template.yaml ({template[key]}) but not in openapi.yaml")
        if key not in template:
            problems.append(f"{method} {path}: in openapi.yaml ({spec[key]}) but not in template.yaml")
        if key in spec and key in template and spec[key] != template[key]:
            problems.append(
                f"{method} {path}: openapi.yaml says function {spec[key]}, template.yaml {template[key]}"
            )
        local = router_function(router, method, path)
        expected = template.get(key) or spec.get(key)
        if local is None:
            problems.append(f"{method} {path}: not in the Cargo.toml router")
        elif local != expected:
            problems.append(f"{method} {path}: the Cargo.toml router sends it to {local}, the API to {expected}")

    # What the router has beyond the API: a path nobody documents, or extra methods (answered 405).
    api_paths = {path for _, path in set(spec) | set(template)}
    extra_methods = []
    for path, methods in sorted(router.items()):
        if path not in api_paths:
            problems.append(f"{path}: in the Cargo.toml router but in neither openapi.yaml nor template.yaml")
            continue
        for method, function in sorted(methods.items()):
            if method != "*" and (method, path) not in spec and (method, path) not in template:
                extra_methods.append(f"{method} {path} -> {function}")
        if "*" in methods:
            documented = sorted(m for m, p in set(spec) | set(template) if p == path)
            extra_methods.append(f"other methods of {path} -> {methods['*']} (API: {', '.join(documented)})")

    print(f"routes: {len(spec)} in openapi.yaml, {len(template)} in template.yaml, {len(router)} paths in the Cargo.toml router")
    for method, path in sorted(spec, key=lambda k: (k[1], k[0])):
        print(f"  {method:6} {path:32} {spec[(method, path)]}")
    if extra_methods:
        print("local router only (the function answers 405):")
        for line in extra_methods:
            print(f"  {line}")
    if problems:
        print(f"\nFAILED: {len(problems)} mismatch(es):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("OK: openapi.yaml, template.yaml and the Cargo.toml router agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
