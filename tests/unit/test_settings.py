"""One settings object reads the environment; bad values are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.platform.settings import Settings, SettingsError


def test_defaults_are_the_embedded_single_machine_mode() -> None:
    s = Settings.from_env({})
    assert (s.kafka_bootstrap, s.http_host, s.http_port) == ("127.0.0.1:9092", "127.0.0.1", 8000)
    assert s.data_dir == Path.cwd() / ".touchline"
    assert s.clickhouse_url == f"chdb://{Path.cwd() / '.touchline' / 'clickhouse'}"
    assert s.max_batch_events == 1000 and s.max_body_bytes == 1_048_576
    assert s.serving_index_resident
    assert not Settings.from_env({"TOUCHLINE_SERVING_INDEX_RESIDENT": "OFF"}).serving_index_resident


def test_variables_override_defaults() -> None:
    s = Settings.from_env(
        {"TOUCHLINE_KAFKA_BOOTSTRAP": "10.0.0.5:19092", "TOUCHLINE_HTTP_PORT": "9000",
         "TOUCHLINE_DATA_DIR": "/srv/tl", "TOUCHLINE_DEFAULT_PHONE_REGION": "jp"}
    )  # fmt: skip
    assert (s.kafka_host, s.kafka_port, s.http_port) == ("10.0.0.5", 19092, 9000)
    assert s.cache_dir == Path("/srv/tl/cache")
    assert s.default_phone_region == "JP"


@pytest.mark.parametrize(
    ("name", "value"),
    [("TOUCHLINE_HTTP_PORT", "eighty"), ("TOUCHLINE_MAX_BATCH_EVENTS", "0"),
     ("TOUCHLINE_SERVING_INDEX_RESIDENT", "yes")],
)  # fmt: skip
def test_bad_values_are_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_every_path_is_absolute_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child process started in another folder (the broker JVM) must mean the same files."""
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"TOUCHLINE_DATA_DIR": "data", "TOUCHLINE_CACHE_DIR": "jars",
                           "TOUCHLINE_SERVING_INDEX": "idx.sqlite3"})  # fmt: skip
    paths = [s.data_dir, s.cache_dir, s.kafka_dir, s.keys_db_path, s.serving_index_path]
    assert all(p is not None and p.is_absolute() for p in paths), paths
    assert s.data_dir == tmp_path / "data" and s.cache_dir == tmp_path / "jars"
    assert s.clickhouse_url == f"chdb://{tmp_path}/data/clickhouse"
    assert s.identity_store_url == f"sqlite://{tmp_path}/data/identity.sqlite3"
    relative = Settings.from_env({"TOUCHLINE_CLICKHOUSE_URL": "chdb://ch",
                                  "TOUCHLINE_IDENTITY_STORE": "sqlite://id.db"})  # fmt: skip
    assert relative.clickhouse_url == f"chdb://{tmp_path}/ch"
    assert relative.identity_store_url == f"sqlite://{tmp_path}/id.db"
    assert Settings().with_changes(data_dir=Path("x")).data_dir == tmp_path / "x"
