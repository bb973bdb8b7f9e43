"""Reads template.yaml with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, !If, ...) as
{"Ref": value} / {"Fn::<Name>": value} mappings. Used by bootstrap.py (the local resources) and
tests/api/check_routes.py (the routes); needs only PyYAML."""

from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that also reads CloudFormation's short-form tags."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE):
    with path.open() as f:
        return yaml.load(f, Loader=CfnLoader)
