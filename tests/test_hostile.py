"""Hostile and careless input, through the real app on a real SQLite file and through the CLI:
every case of issue 12 (and more) is answered 4xx naming the field or place, never 500, and
leaves nothing stored (no ledger record, no portfolio, no job); the same files given to the
command line exit 2 with one line per problem and no traceback.

`CORPUS` is the list measured in benchmarks/README.md (Hostile input)."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from clikit import invoke
from fastapi.testclient import TestClient
from servicekit import add_key, portfolio_document
from sqlalchemy import text

from allocator.api import create_app
from allocator.io.formats import spreadsheet_safe, write_portfolio_csv
from allocator.model import build_portfolio
from allocator.service.keys import Role
from allocator.service.settings import Settings

pytestmark = pytest.mark.service

DEEP = 100_000
"""Nesting of the deep documents (the issue's case: 100,000 levels)."""


def deep_json(levels: int = DEEP) -> str:
    return '{"a": ' + "[" * levels + "]" * levels + "}"


@functools.cache
def _base_document() -> str:
    return json.dumps(portfolio_document(engineers=6, opportunities=20))


def document(**changes: Any) -> dict[str, Any]:
    """A small valid portfolio document with `changes` applied at the top level."""
    return {**json.loads(_base_document()), **changes}


def with_opportunity(**changes: Any) -> dict[str, Any]:
    doc = document()
    doc["opportunities"][0] = {**doc["opportunities"][0], **changes}
    return doc


def with_engineer(**changes: Any) -> dict[str, Any]:
    doc = document()
    doc["engineers"][0] = {**doc["engineers"][0], **changes}
    return doc


def raw(doc: dict[str, Any], replace: dict[str, str]) -> bytes:
    """The document as JSON text with markers replaced by text JSON cannot carry (NaN...)."""
    body = json.dumps(doc)
    for marker, token in replace.items():
        body = body.replace(json.dumps(marker), token)
    return body.encode()


def workbook_with_far_cells() -> bytes:
    """1.5 KB: one cell at XFD1, one at A1048576 (pandas padded this to gigabytes)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "engineers"
    sheet["A1"] = "id"
    sheet["XFD1"] = "x"
    sheet["A1048576"] = "E1"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def compression_bomb(megabytes: int = 4000) -> bytes:
    """A small .xlsx whose sheet says it unpacks to `megabytes` MB (its ZIP directory says so,
    as a real bomb's does; making the real one would take the test seconds)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 2**20)
        archive.getinfo("xl/worksheets/sheet1.xml").file_size = megabytes * 2**20
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    """One hostile request: what is sent, the status expected and what the answer names."""

    name: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    status: int = 422
    names: str = ""
    """Text one of the problems (where, field or message) must hold; the field when one is
    to be named."""
    settings: dict[str, Any] = field(default_factory=dict)

    def send(self, client: TestClient, headers: dict[str, str]) -> Any:
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.content is not None:
            kwargs["content"] = self.content
            kwargs["headers"]["content-type"] = "application/json"
        if self.files is not None:
            kwargs["files"] = self.files
        return client.request(self.method, self.path, **kwargs)


def json_file(name: str, content: bytes | str) -> list[tuple[str, tuple[str, bytes, str]]]:
    data = content.encode() if isinstance(content, str) else content
    return [("files", (name, data, "application/octet-stream"))]


def _portfolio_cases() -> list[Case]:
    post = "/v1/portfolios"
    return [
        Case(
            "horizon Infinity",
            "POST",
            post,
            content=raw(document(horizon_weeks="X"), {"X": "Infinity"}),
            names="horizon_weeks",
        ),
        Case(
            "horizon 1e999",
            "POST",
            post,
            content=raw(document(horizon_weeks="X"), {"X": "1e999"}),
            names="horizon_weeks",
        ),
        Case(
            "horizon NaN",
            "POST",
            post,
            content=raw(document(horizon_weeks="X"), {"X": "NaN"}),
            names="horizon_weeks",
        ),
        Case(
            "value of 5000 digits",
            "POST",
            post,
            content=raw(with_opportunity(value="X"), {"X": "9" * 5000}),
            names="$.opportunities[0].value",
        ),
        Case("value true", "POST", post, json=with_opportunity(value=True), names="value"),
        Case(
            "win probability false",
            "POST",
            post,
            json=with_opportunity(win_probability=False),
            names="win_probability",
        ),
        Case(
            "skill level true",
            "POST",
            post,
            json=with_engineer(skills={"solution_architect": True}),
            names="skills",
        ),
        Case(
            "capacity true",
            "POST",
            post,
            json=with_engineer(capacity_hours=True),
            names="capacity_hours",
        ),
        Case(
            "horizon true", "POST", post, json=document(horizon_weeks=True), names="horizon_weeks"
        ),
        Case("body nested 100000 deep", "POST", post, content=deep_json().encode(), names="nests"),
        Case("body nested 40 deep", "POST", post, content=deep_json(40).encode(), names="nests"),
        Case("engineer id with /", "POST", post, json=with_engineer(id="E/1"), names="id"),
        Case("opportunity id with /", "POST", post, json=with_opportunity(id="OPP/1"), names="id"),
        Case(
            "engineer id with a control character",
            "POST",
            post,
            json=with_engineer(id="E\x07"),
            names="id",
        ),
        Case("id of 300 characters", "POST", post, json=with_engineer(id="E" * 300), names="id"),
        Case("name of 300 characters", "POST", post, json=document(name="n" * 300), names="name"),
        Case(
            "max opportunities 10**20",
            "POST",
            post,
            json=document(policy={"max_opportunities_per_engineer": 10**20}),
            names="max_opportunities_per_engineer",
        ),
        Case(
            "max opportunities 2**62",
            "POST",
            post,
            json=document(policy={"max_opportunities_per_engineer": 2**62}),
            names="max_opportunities_per_engineer",
        ),
        Case(
            "weights that overflow the objective",
            "POST",
            post,
            json={
                **with_opportunity(value=1e12, win_probability=1.0),
                "policy": {"value_unit": 0.01, "value_weight": 1_000_000},
            },
            names="value_unit",
        ),
        Case(
            "weight 10**30",
            "POST",
            post,
            json=document(policy={"travel_penalty": 10**30}),
            names="travel_penalty",
        ),
        Case("not an object", "POST", post, json=[1, 2], names="$"),
        Case("not UTF-8", "POST", post, content=b'{"name": "\xff"}', names="UTF-8"),
        Case(
            "too many engineers",
            "POST",
            post,
            json=document(),
            names="engineers",
            settings={"max_engineers": 5},
        ),
        Case(
            "too many demands after templates",
            "POST",
            post,
            json=document(),
            names="demands",
            settings={"max_demands": 10},
        ),
        Case(
            "too many candidate pairs",
            "POST",
            post,
            json=document(),
            names="candidate_pairs",
            settings={"max_candidate_pairs": 10},
        ),
        Case(
            "too much estimated memory",
            "POST",
            post,
            json=document(),
            names="memory_mb",
            settings={"max_memory_mb": 1},
        ),
        Case(
            "file name of 300 characters",
            "POST",
            post,
            files=json_file("p" * 295 + ".json", json.dumps(document())),
            names="file name",
        ),
        Case(
            "one-file upload nested deep",
            "POST",
            post,
            files=json_file("p.json", deep_json()),
            names="nests",
        ),
        Case(
            "one-file upload with Infinity",
            "POST",
            post,
            files=json_file("p.json", raw(document(horizon_weeks="X"), {"X": "Infinity"})),
            names="horizon_weeks",
        ),
        Case(
            "policy.json nested deep",
            "POST",
            post,
            files=json_file("policy.json", deep_json())
            + json_file("engineers.csv", "id,region\nE1,N\n"),
            names="nests",
        ),
        Case(
            "policy.json with NaN",
            "POST",
            post,
            files=json_file("policy.json", '{"load_penalty": NaN}')
            + json_file("engineers.csv", "id,region\nE1,N\n"),
            names="load_penalty",
        ),
        Case(
            "workbook with cells at XFD1 and A1048576",
            "POST",
            post,
            files=json_file("p.xlsx", workbook_with_far_cells()),
            names="unknown column",
        ),
        Case(
            "compression bomb",
            "POST",
            post,
            files=json_file("p.xlsx", compression_bomb()),
            names="unpacks",
        ),
        Case(
            "not a workbook",
            "POST",
            post,
            files=json_file("p.xlsx", b"PK not a zip"),
            names="not a ZIP archive",
        ),
        Case(
            "folder without tables",
            "POST",
            post,
            files=json_file("skills.csv", "id\na\n"),
            names="holds neither",
        ),
        Case(
            "an upload over the key's quota",
            "POST",
            post,
            json=document(),
            status=413,
            settings={"max_upload_bytes_per_key": 100},
        ),
    ]


def _run_cases() -> list[Case]:
    post = "/v1/runs"
    return [
        Case(
            "inline portfolio, integer of 5000 digits",
            "POST",
            post,
            content=raw({"portfolio": with_opportunity(value="X")}, {"X": "9" * 5000}),
            names="$.portfolio.opportunities[0].value",
        ),
        Case(
            "inline portfolio, horizon Infinity",
            "POST",
            post,
            content=raw({"portfolio": document(horizon_weeks="X")}, {"X": "Infinity"}),
            names="$.portfolio.horizon_weeks",
        ),
        Case(
            "inline portfolio, value true",
            "POST",
            post,
            json={"portfolio": with_opportunity(value=True)},
            names="value",
        ),
        Case(
            "policy max opportunities 10**20",
            "POST",
            post,
            json={"portfolio": document(), "policy": {"max_opportunities_per_engineer": 10**20}},
            names="max_opportunities_per_engineer",
        ),
        Case(
            "policy that overflows the objective",
            "POST",
            post,
            json={
                "portfolio": with_opportunity(value=1e12, win_probability=1.0),
                "policy": {"value_unit": 0.01, "value_weight": 1_000_000},
            },
            names="value_unit",
        ),
        Case(
            "policy weight true",
            "POST",
            post,
            json={"portfolio": document(), "policy": {"travel_penalty": True}},
            names="travel_penalty",
        ),
        Case(
            "time limit true",
            "POST",
            post,
            json={"portfolio": document(), "time_limit": True},
            names="time_limit",
        ),
        Case("seed true", "POST", post, json={"portfolio": document(), "seed": True}, names="seed"),
        Case(
            "seed 2**70", "POST", post, json={"portfolio": document(), "seed": 2**70}, names="seed"
        ),
        Case("portfolio id true", "POST", post, json={"portfolio_id": True}, names="portfolio_id"),
        Case(
            "policy nested deep",
            "POST",
            post,
            content=('{"portfolio_id": 1, "policy": ' + deep_json() + "}").encode(),
            names="nests",
        ),
        Case(
            "pin of an unknown engineer",
            "POST",
            post,
            json={
                "portfolio": document(),
                "pins": [{"engineer_id": "E-X", "opportunity_id": "OPP-00001"}],
            },
            names="engineer_id",
        ),
        Case(
            "inline portfolio too large",
            "POST",
            post,
            json={"portfolio": document()},
            names="candidate_pairs",
            settings={"max_candidate_pairs": 10},
        ),
    ]


def _scenario_cases() -> list[Case]:
    post = "/v1/scenarios"
    ratio = {"kind": "set_ratio", "region": "Central", "ratio": "1000000:1"}
    grow = {"kind": "change_pipeline", "percent": 1000}
    return [
        Case(
            "set_ratio 1000000:1",
            "POST",
            post,
            json={"portfolio": document(), "scenarios": [{"name": "r", "edits": [ratio]}]},
            names="ratio",
        ),
        Case(
            "set_ratio 10000:1 (hires past the limit)",
            "POST",
            post,
            json={
                "portfolio": document(),
                "scenarios": [{"name": "r", "edits": [{**ratio, "ratio": "10000:1"}]}],
            },
            names="ratio",
        ),
        Case(
            "change_pipeline +1000 % three times",
            "POST",
            post,
            json={
                "portfolio": document(),
                "scenarios": [{"name": "g", "edits": [grow, grow, grow, grow]}],
            },
            names="percent",
        ),
        Case(
            "change_pipeline +1000 % past the demands limit",
            "POST",
            post,
            json={"portfolio": document(), "scenarios": [{"name": "g", "edits": [grow]}]},
            names="demands",
            settings={"max_demands": 100},
        ),
        Case(
            "ratio sweep to 10000:1 for every engineer",
            "POST",
            post,
            json={
                "portfolio": document(),
                "ratio_sweep": {
                    "region": "Central",
                    "from": "1:6",
                    "to": "10000:1",
                    "every_engineer": True,
                },
            },
            names="engineers",
        ),
        Case(
            "change_policy that overflows the objective",
            "POST",
            post,
            json={
                "portfolio": with_opportunity(value=1e12, win_probability=1.0),
                "scenarios": [
                    {
                        "name": "p",
                        "edits": [
                            {
                                "kind": "change_policy",
                                "changes": {"value_unit": 0.01, "value_weight": 1_000_000},
                            }
                        ],
                    }
                ],
            },
            names="value_unit",
        ),
        Case(
            "change_policy value true",
            "POST",
            post,
            json={
                "portfolio": document(),
                "scenarios": [
                    {
                        "name": "p",
                        "edits": [{"kind": "change_policy", "changes": {"load_penalty": True}}],
                    }
                ],
            },
            names="load_penalty",
        ),
        Case(
            "seed true",
            "POST",
            post,
            json={"portfolio": document(), "scenarios": [{"name": "a"}], "seed": True},
            names="seed",
        ),
        Case(
            "scenarios nested deep",
            "POST",
            post,
            content=('{"portfolio_id": 1, "scenarios": ' + deep_json() + "}").encode(),
            names="nests",
        ),
    ]


CORPUS = _portfolio_cases() + _run_cases() + _scenario_cases()


class Hostile:
    """The app (500s answered, not raised), a planner key, and the store's row counts."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        url = f"sqlite:///{tmp_path / 'hostile.db'}"
        self.app = create_app(Settings(database_url=url, workers=0, **settings))
        self.key = add_key(url, Role.PLANNER, "planner")
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.engine = self.app.state.service.store.engine

    def stored(self) -> tuple[int, ...]:
        """Rows that acceptance writes: ledger records of inputs, portfolios, jobs."""
        with self.engine.connect() as connection:
            return tuple(
                connection.execute(text(query)).scalar_one()
                for query in (
                    "SELECT count(*) FROM ledger WHERE kind IN "
                    "('portfolio', 'run_accepted', 'scenario_accepted')",
                    "SELECT count(*) FROM portfolios",
                    "SELECT count(*) FROM jobs",
                )
            )


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Callable[..., Hostile]]:
    made: list[Hostile] = []

    def make(**settings: Any) -> Hostile:
        found = Hostile(tmp_path / str(len(made)), **settings)
        made.append(found)
        found.client.__enter__()
        return found

    (tmp_path / "0").mkdir()
    for index in range(1, 3):
        (tmp_path / str(index)).mkdir()
    yield make
    for found in made:
        found.client.__exit__(None, None, None)


def _named(answer: dict[str, Any], names: str) -> bool:
    if names in answer.get("detail", ""):
        return True
    return any(
        names in problem["field"] or names in problem["where"] or names in problem["text"]
        for problem in answer.get("problems", [])
    )


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_hostile_requests_are_refused_by_name_and_store_nothing(
    hostile: Callable[..., Hostile], case: Case
) -> None:
    app = hostile(**case.settings)
    if case.status == 413:  # A quota: one upload under it first.
        app.client.post("/v1/portfolios", json={"name": "tiny"}, headers=app.headers)
    before = app.stored()
    answer = case.send(app.client, app.headers)
    assert answer.status_code == case.status, answer.text[:500]
    body = answer.json()
    assert body["detail"]
    if case.status == 422:
        assert body["problems"], body
        assert _named(body, case.names), body
    assert app.stored() == before, "something was stored"
    assert app.client.get("/healthz").status_code == 200


def test_a_key_past_its_job_limit_gets_429(hostile: Callable[..., Hostile]) -> None:
    app = hostile(max_jobs_per_key=2)
    stored = app.client.post("/v1/portfolios", json=document(), headers=app.headers).json()
    for _ in range(2):
        accepted = app.client.post(
            "/v1/runs", json={"portfolio_id": stored["id"]}, headers=app.headers
        )
        assert accepted.status_code == 202
    before = app.stored()
    refused = app.client.post("/v1/runs", json={"portfolio_id": stored["id"]}, headers=app.headers)
    assert refused.status_code == 429
    assert "ALLOCATOR_MAX_JOBS_PER_KEY" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    assert app.stored() == before


def test_an_unexpected_error_is_500_with_a_request_id(
    hostile: Callable[..., Hostile], caplog: pytest.LogCaptureFixture
) -> None:
    app = hostile()

    def broken() -> None:
        raise RuntimeError("boom")

    app.app.state.service.list_runs = lambda *_, **__: broken()
    answer = app.client.get("/v1/runs", headers=app.headers)
    assert answer.status_code == 500
    request_id = answer.json()["request_id"]
    assert request_id and answer.headers["x-request-id"] == request_id
    assert request_id in answer.json()["detail"] and "boom" not in answer.text
    assert any(request_id in record.getMessage() for record in caplog.records)


# ---------------------------------------------------------------------------------------------
# The same files through the command line: exit 2, one line per problem, no traceback

CLI_FILES: list[tuple[str, str, bytes]] = [
    ("deep.json", "nests", deep_json().encode()),
    ("infinity.json", "horizon_weeks", raw(document(horizon_weeks="X"), {"X": "Infinity"})),
    ("digits.json", "value", raw(with_opportunity(value="X"), {"X": "9" * 5000})),
    ("boolean.json", "value", json.dumps(with_opportunity(value=True)).encode()),
    ("slash.json", "id", json.dumps(with_engineer(id="E/1")).encode()),
    (
        "huge-limit.json",
        "max_opportunities_per_engineer",
        json.dumps(document(policy={"max_opportunities_per_engineer": 10**20})).encode(),
    ),
    ("far-cells.xlsx", "unknown column", workbook_with_far_cells()),
    ("bomb.xlsx", "unpacks", compression_bomb()),
    ("broken.xlsx", "not a ZIP archive", b"PK not a zip"),
]


@pytest.mark.parametrize(
    ("name", "names", "content"), CLI_FILES, ids=[name for name, _, _ in CLI_FILES]
)
def test_the_cli_exits_2_with_one_line_per_problem(
    tmp_path: Path, name: str, names: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = invoke("solve", path, "--out", tmp_path / "out.json", "--time-limit", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), lines
    assert names in result.stderr


def test_the_cli_reads_a_folder_with_a_deep_policy_json_as_bad_input(tmp_path: Path) -> None:
    folder = write_portfolio_csv(build_portfolio(document()), tmp_path / "p")
    (folder / "policy.json").write_text(deep_json())
    result = invoke("solve", folder, "--out", tmp_path / "out.json")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: policy.json: nests {DEEP + 1} levels deep; at most 32 are accepted "
        f"(got {DEEP + 1})"
    )


# ---------------------------------------------------------------------------------------------
# Exports: no cell a spreadsheet would run


def test_exported_cells_that_would_start_a_formula_are_quoted_and_read_back(
    tmp_path: Path,
) -> None:
    attack = "=cmd|' /C calc'!A0"
    doc = with_opportunity(customer=attack, requester="@SUM(A1)")
    doc["engineers"][0] = {**doc["engineers"][0], "name": "+1+1", "title": "-2+3"}
    portfolio = build_portfolio(doc)
    folder = write_portfolio_csv(portfolio, tmp_path / "out")
    text_of = (folder / "opportunities.csv").read_text() + (folder / "engineers.csv").read_text()
    for cell in (attack, "@SUM(A1)", "+1+1", "-2+3"):
        assert f"'{cell}" in text_of
    from allocator.io.formats import load_portfolio

    assert load_portfolio(folder) == portfolio  # The quote is taken off again.
    assert spreadsheet_safe("-3.5") == "-3.5"  # Numbers stay numbers.


# ---------------------------------------------------------------------------------------------
# A worker's memory cap


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(__import__("resource"), "RLIMIT_AS"), reason="no RLIMIT_AS")
def test_a_process_past_its_memory_cap_fails_with_a_message_naming_it() -> None:
    script = (
        "import numpy\n"
        "from allocator.service.memory import cap_memory, failure_text\n"
        "assert cap_memory(600)\n"
        "try:\n"
        "    numpy.ones(2 * 10**9 // 8)\n"  # 2 GB, past the 600 MiB cap.
        "except MemoryError as error:\n"
        "    print(failure_text(error))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip().startswith(
        "MemoryError: the job needed more memory than the worker's cap of 600 MiB "
        "(ALLOCATOR_WORKER_MEMORY_MB)"
    )
