"""The model file loader: every mistake reported as `file:line:col: message`.

Each file in bad_models/ is a small model with exactly one mistake; its first
line says where the loader must point and what the message must say:

    # expect: LINE:COL text the message contains
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from leadscore.cli import main
from scoring_core import ModelFileError, load_model
from scoring_core.loader import parse_model

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml"
BAD_MODELS = sorted((Path(__file__).parent / "bad_models").glob("*.yaml"))
EXPECT = re.compile(r"# expect: (?P<line>\d+):(?P<col>\d+) (?P<text>.+)")
ERROR_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")

# Stages, grades and bands that are valid on their own, for models built inline.
VALID_TAIL = """\
stages:
  mql: {score: 50}
  sql: {score: 80}
grades:
  fit: {A: 40, B: 25, C: 10}
  engagement: {"1": 40, "2": 20, "3": 8}
bands: {hot: 70, warm: 35}
"""


def _expectation(path: Path) -> tuple[int, int, str]:
    header = path.read_text(encoding="utf-8").splitlines()[0]
    match = EXPECT.fullmatch(header)
    assert match, f"{path.name}: first line must be '# expect: LINE:COL text', got {header!r}"
    return int(match["line"]), int(match["col"]), match["text"]


def _errors(path: Path) -> list:
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    return caught.value.errors


# --- one mistake per file ---------------------------------------------------


def test_the_bad_model_collection_has_at_least_ten_files_each_saying_what_to_expect():
    expectations = [_expectation(path) for path in BAD_MODELS]

    assert len(expectations) >= 10


@pytest.mark.parametrize("path", BAD_MODELS, ids=[p.name for p in BAD_MODELS])
def test_a_single_mistake_is_reported_once_at_its_line_and_column(path):
    line, col, text = _expectation(path)

    errors = _errors(path)

    reported = "\n".join(str(e) for e in errors)
    assert [(e.line, e.col) for e in errors] == [(line, col)], f"expected one error at {line}:{col}, got:\n{reported}"
    assert text in errors[0].message
    assert str(errors[0]).startswith(f"{path}:{line}:{col}: ")


# --- several mistakes -------------------------------------------------------

SEVERAL_SCHEMA_MISTAKES = (
    'version: "1"\n'  # 1
    "engagement:\n"  # 2
    "  - id: page_view\n"  # 3
    "    on: page_view\n"  # 4
    '    points: "ten"\n'  # 5  not a number
    "    half_life_days: 0\n"  # 6  not > 0
    "    points: 2\n"  # 7  duplicate key
    "colour: red\n"  # 8  unknown top-level key
) + VALID_TAIL


def test_every_mistake_in_a_file_is_reported_not_only_the_first(tmp_path):
    path = tmp_path / "several.yaml"
    path.write_text(SEVERAL_SCHEMA_MISTAKES, encoding="utf-8")

    errors = _errors(path)

    assert [(e.line, e.col) for e in errors] == [(5, 13), (6, 21), (7, 5), (8, 1)]
    assert "valid number" in errors[0].message
    assert "greater than 0" in errors[1].message
    assert "duplicate key 'points'" in errors[2].message
    assert "unknown key 'colour'" in errors[3].message


def test_a_cross_field_mistake_is_reported_alongside_a_schema_mistake(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(
        'version: "1"\n'
        "colour: red\n"  # 2  unknown key (schema)
        "stages:\n"
        "  mql: {score: 50}\n"
        "  sql: {score: 40}\n"  # 5  sql not above mql (cross-field)
        "grades:\n"
        "  fit: {A: 40, B: 25, C: 10}\n"
        '  engagement: {"1": 40, "2": 20, "3": 8}\n'
        "bands: {hot: 70, warm: 35}\n",
        encoding="utf-8",
    )

    errors = _errors(path)

    assert [(e.line, e.col) for e in errors] == [(2, 1), (5, 16)], "\n".join(str(e) for e in errors)


# --- files that are not models at all ----------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "- version: '1'\n- fit: []\n", "just some text\n"],
    ids=["empty", "comment-only", "sequence", "scalar"],
)
def test_a_file_that_is_not_a_mapping_gets_one_clear_error_at_the_first_line(tmp_path, text):
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")

    errors = _errors(path)

    assert [(e.line, e.col) for e in errors] == [(1, 1)]
    assert "must be a mapping" in errors[0].message
    assert str(errors[0]).startswith(f"{path}:1:1: ")


def test_a_missing_file_gives_a_cannot_read_error_naming_the_file(tmp_path):
    path = tmp_path / "no-such-model.yaml"

    errors = _errors(path)

    assert [(e.file, e.line, e.col) for e in errors] == [(str(path), 1, 1)]
    assert "cannot read model file" in errors[0].message


def test_a_file_that_is_not_utf8_gives_a_cannot_read_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes('version: "1"\nname: caf\xe9\n'.encode("latin-1"))

    errors = _errors(path)

    assert [(e.line, e.col) for e in errors] == [(1, 1)]
    assert "cannot read model file" in errors[0].message


# --- `leadscore model check` -------------------------------------------------


def test_model_check_on_a_bad_file_exits_1_with_one_file_line_col_line_per_mistake(tmp_path, capsys):
    path = tmp_path / "several.yaml"
    path.write_text(SEVERAL_SCHEMA_MISTAKES, encoding="utf-8")

    rc = main(["model", "check", str(path)])

    out_lines = capsys.readouterr().out.splitlines()
    parsed = [ERROR_LINE.match(line) for line in out_lines]
    assert rc == 1
    assert all(parsed), out_lines
    assert {m["file"] for m in parsed} == {str(path)}
    assert [(int(m["line"]), int(m["col"])) for m in parsed] == [(5, 13), (6, 21), (7, 5), (8, 1)]


def test_model_check_on_a_missing_file_exits_1_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "no-such-model.yaml"

    rc = main(["model", "check", str(path)])

    out, err = capsys.readouterr()
    assert rc == 1
    assert out.startswith(f"{path}:1:1: cannot read model file")
    assert "Traceback" not in out + err


def test_model_check_on_the_default_model_exits_0_with_a_one_line_summary(capsys):
    rc = main(["model", "check", str(DEFAULT_MODEL)])

    out, err = capsys.readouterr()
    assert rc == 0
    assert out.splitlines() == [out.rstrip("\n")]
    assert out.startswith(f"{DEFAULT_MODEL}: ok: model default version ")
    assert err == ""


# --- the default model -------------------------------------------------------


def test_the_default_model_loads_with_a_version_and_rules():
    model = load_model()

    assert isinstance(model.version, str) and model.version
    assert model.fit and model.engagement and model.disqualifiers


def test_the_default_model_loaded_by_path_equals_the_packaged_one():
    assert load_model(DEFAULT_MODEL) == load_model()


def test_the_default_model_keeps_norway_as_the_country_code_no():
    # YAML 1.1 reads a bare NO as false: the Norway problem.
    model = load_model()

    country_rule = next(rule for rule in model.fit if rule.id == "country_core")

    assert "NO" in country_rule.when["country"].in_
    assert False not in country_rule.when["country"].in_


# --- YAML 1.1 traps ----------------------------------------------------------


def test_a_key_named_on_is_read_as_the_string_on_not_as_true():
    text = 'version: "1"\nengagement:\n  - id: page_view\n    on: page_view\n    points: 1\n' + VALID_TAIL

    model = parse_model(text)

    assert model.engagement[0].event_types() == ["page_view"]


def test_condition_fields_named_like_yaml_booleans_keep_their_names():
    text = (
        'version: "1"\nfit:\n  - id: flags\n    when: {on: {exists: true}, no: {exists: false}, yes: 1}\n    points: 1\n'
        + VALID_TAIL
    )

    model = parse_model(text)

    assert set(model.fit[0].when) == {"on", "no", "yes"}


def test_a_bare_no_in_a_condition_list_is_the_country_code_not_false():
    text = (
        'version: "1"\nfit:\n  - id: nordics\n    when: {country: [SE, NO], email: {exists: true}}\n    points: 1\n'
        + VALID_TAIL
    )

    model = parse_model(text)

    assert model.fit[0].when["country"].in_ == ["SE", "NO"]
    assert model.fit[0].when["email"].exists is True


def test_a_version_written_as_a_number_keeps_the_digits_the_author_wrote():
    text = "version: 1.10\n" + VALID_TAIL

    model = parse_model(text)

    assert model.version == "1.10"
