# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role rejects bad variables at its start, naming them, through its meta/argument_specs.yml.

No lab needed: Ansible validates the role's variables before the first task of the
role runs, so a play with nothing but the role proves the spec and changes nothing.
"""
from __future__ import annotations

import pytest
import yaml

from helpers.ansible_run import REPO, run_playbook

ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if (path / "tasks").is_dir())
VALIDATION_TASK = "Validating arguments against arg spec 'main'"
# A value no option of this type accepts; str, path and list options accept almost anything.
BAD_BY_TYPE = {"int": "many", "float": "soon", "bool": "perhaps"}


def options(role):
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def bad_values(role):
    """One rejected value for every option whose type or choices can reject one."""
    bad = {}
    for name, option in options(role).items():
        if option.get("choices"):
            bad[name] = "not-a-choice"
        elif option.get("type") in BAD_BY_TYPE:
            bad[name] = BAD_BY_TYPE[option["type"]]
    return bad


def validation(run):
    """The result of the role's argument validation (its task name carries the spec's short description)."""
    found = [entry["result"] for entry in run.tasks if VALIDATION_TASK in entry["task"]]
    assert len(found) == 1, f"expected one validation task, got {[entry['task'] for entry in run.tasks]}"
    return found[0]


def play(tmp_path, role):
    path = tmp_path / f"{role}.yml"
    path.write_text(yaml.safe_dump([{"name": f"Only the role {role}", "hosts": "localhost",
                                     "gather_facts": False, "roles": [f"chainops.runbooks.{role}"]}]))
    return path


def test_every_role_has_an_argument_spec_with_descriptions():
    assert ROLES, "no role found under roles/"
    for role in ROLES:
        for name, option in options(role).items():
            assert name.startswith(role + "_"), f"{role}: option {name} is not prefixed with the role name"
            assert option.get("description"), f"{role}: option {name} has no description"


@pytest.mark.parametrize("role", ROLES)
def test_bad_variables_are_rejected_by_name_before_any_task(role, tmp_path):
    bad = bad_values(role)
    assert bad, f"{role}: no option with a type or choices that can reject a value"
    run = run_playbook(play(tmp_path, role), inventory="localhost,", extra_vars=bad)
    assert run.rc != 0
    result = validation(run)
    assert result.get("failed"), run.stdout
    message = result["msg"]
    for name, value in bad.items():
        assert name in message, f"{role}: {name}={value!r} not named in: {message}"
    # ansible-core 2.19 quotes the rejected value for int, bool and choices (not for float).
    assert all(value in message for value in ("many", "perhaps", "not-a-choice") if value in bad.values())
    # Nothing after the validation ran: the role changed nothing.
    assert [entry["task"] for entry in run.tasks if VALIDATION_TASK not in entry["task"]] == []


@pytest.mark.parametrize("role", ROLES)
def test_the_defaults_pass_the_argument_spec(role, tmp_path):
    run = run_playbook(play(tmp_path, role), inventory="localhost,")
    result = validation(run)
    assert not result.get("failed"), result.get("msg")
