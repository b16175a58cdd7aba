"""A damaged signing-key record in the store is reported, never skipped and replaced by a new key.

On SQLite and on a real PostgreSQL: start-up refuses it with one line naming the record and what to
do; a running process refuses key changes over it (admin 500 ``damaged_state``), reports it in
``/healthz`` and the audit, and keeps serving its last good copy. The store is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from serve_process import ServeProcess
from test_startup_checks import serve_fails  # tests/app is on sys.path

#: Two kinds of damage: the value is not JSON; the value is JSON but not a key (the private part lost).
DAMAGE: dict[str, Callable[[str], str]] = {
    "truncated": lambda value: value[:40],
    "not-a-key": lambda value: json.dumps({k: v for k, v in json.loads(value).items() if k not in ("jwk", "d")}),
}


@dataclass
class KeyRecords:
    """Direct access to the ``key:default`` records of the store under test (as an operator would)."""

    extra: tuple[str, ...]
    execute: Callable[[str, tuple[str, ...]], list[tuple[str, str]]]

    def all(self) -> dict[str, str]:
        return dict(self.execute("SELECT key, value FROM records WHERE kind = 'key:default' ORDER BY key", ()))

    def damage(self, how: str) -> str:
        kid, value = next(iter(self.all().items()))
        self.execute("UPDATE records SET value = %s WHERE kind = 'key:default' AND key = %s", (DAMAGE[how](value), kid))
        return kid


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyRecords]:
    if request.param == "sqlite":

        def on_sqlite(sql: str, params: tuple[str, ...]) -> list[tuple[str, str]]:
            with contextlib.closing(sqlite3.connect(tmp_path / "data" / "state.db", timeout=30)) as db, db:
                return db.execute(sql.replace("%s", "?"), params).fetchall()

        yield KeyRecords((), on_sqlite)
        return
    url = request.getfixturevalue("pg_url")

    def on_postgres(sql: str, params: tuple[str, ...]) -> list[tuple[str, str]]:
        with psycopg.connect(url, autocommit=True) as db:
            cursor = db.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    yield KeyRecords(("--store", url), on_postgres)


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_start_up_refuses_a_damaged_key_record_with_one_line(records: KeyRecords, tmp_path: Path, how: str) -> None:
    with ServeProcess(tmp_path / "data", *records.extra):
        pass
    kid = records.damage(how)
    before = records.all()
    line = serve_fails(tmp_path / "data", *records.extra)
    assert f"signing-key record {kid!r} of issuer 'default'" in line, line
    assert "restore the store from a backup, or delete that record" in line and "never replaces it" in line
    assert records.all() == before  # nothing generated, nothing rewritten


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_running_process_reports_a_damaged_key_record_and_replaces_nothing(
    records: KeyRecords, tmp_path: Path, how: str
) -> None:
    with ServeProcess(tmp_path / "data", *records.extra) as server:
        assert _get(server.url + "/healthz")[0] == 200
        kid = records.damage(how)
        before = records.all()
        request = urllib.request.Request(
            server.url + "/admin/keys/rotate",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        body = json.loads(refused.value.read())
        assert refused.value.code == 500 and body["error"] == "damaged_state" and kid in body["error_description"]
        assert records.all() == before  # no new key for that algorithm, the damaged record left as it was
        status, health = _get(server.url + "/healthz")
        assert status == 503 and kid in health["error"] and "never replaces it" in health["error"]
        audit = server.admin("GET", "/admin/audit?event=key.load_failed")["records"]
        assert audit and kid in audit[-1]["record"]
        assert kid in {key["kid"] for key in _get(server.url + "/jwks")[1]["keys"]}  # its last good copy serves


def test_any_other_damaged_record_is_named_at_start_up(records: KeyRecords, tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "data", *records.extra):
        pass
    records.execute("INSERT INTO records (kind, key, value) VALUES ('role', 'broken', %s)", ('{"settings": {',))
    line = serve_fails(tmp_path / "data", *records.extra)
    assert "stored record role/broken is damaged: not JSON" in line and "restore the store from a backup" in line
