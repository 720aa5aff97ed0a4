"""Keycloak's Java finder: Java 21+ from KEYCLOAK_JAVA_HOME, JAVA_HOME or /usr/lib/jvm, else a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.keycloak import KeycloakUnavailable, find_java, java_version


def jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


def test_versions_are_read_from_the_release_file(tmp_path: Path) -> None:
    assert java_version(jdk(tmp_path, "a", "25.0.1")) == 25
    assert java_version(jdk(tmp_path, "b", "1.8.0_402")) == 8
    assert java_version(tmp_path / "missing") == 0


def test_the_newest_jdk_under_jvm_dir_wins_over_an_old_java_home(tmp_path: Path) -> None:
    old = jdk(tmp_path, "java-17-openjdk-amd64", "17.0.12")
    new = jdk(tmp_path, "temurin-25-jdk-amd64", "25.0.1")
    assert find_java({"JAVA_HOME": str(old)}, tmp_path) == new


def test_keycloak_java_home_is_taken_first(tmp_path: Path) -> None:
    chosen = jdk(tmp_path / "opt", "jdk21", "21.0.4")
    jdk(tmp_path / "jvm", "temurin-25", "25.0.1")
    assert find_java({"KEYCLOAK_JAVA_HOME": str(chosen)}, tmp_path / "jvm") == chosen


def test_only_java_17_fails_with_what_to_install(tmp_path: Path) -> None:
    jdk(tmp_path, "java-17-openjdk-amd64", "17.0.12")
    with pytest.raises(KeycloakUnavailable) as err:
        find_java({}, tmp_path)
    assert "needs Java 21 or newer and none was found" in str(err.value)
    assert "java-17-openjdk-amd64 (17)" in str(err.value)
    assert "KEYCLOAK_JAVA_HOME" in str(err.value)
