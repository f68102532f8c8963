# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token cache file: MSAL's real cache round trip, permissions, atomic writes, the lock, and broken files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time

import msal
import pytest

from ansible_collections.secops.m365_defender.plugins.module_utils._auth import Authenticator
from ansible_collections.secops.m365_defender.plugins.module_utils._clouds import resolve_endpoints
from ansible_collections.secops.m365_defender.plugins.module_utils._errors import AuthenticationError, InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._http import HttpClient
from ansible_collections.secops.m365_defender.plugins.module_utils._token_cache import TokenCacheFile
from ansible_collections.secops.m365_defender.tests.unit.plugins.constants import CLIENT, LOGIN, TENANT
from ansible_collections.secops.m365_defender.tests.unit.plugins.fakes import FakeEntra, make_jwt, make_response


# A child process that takes the lock on a file, says so, and keeps it until its stdin closes or sends a line.
HOLD_LOCK = """
import fcntl, os, sys
handle = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(handle, fcntl.LOCK_EX)
sys.stdout.write("locked\\n")
sys.stdout.flush()
sys.stdin.readline()
"""

# A child process that tries the lock without waiting: exit code 0 when it got it, 1 when someone holds it.
TRY_LOCK = """
import fcntl, os, sys
handle = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
except (IOError, OSError):
    sys.exit(1)
"""


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def sign_in(cache_path, check_mode=False, remember=None, **extra):
    options = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s3cr3t", "token_cache_path": str(cache_path)}
    options.update(extra)
    authenticator = Authenticator(options, resolve_endpoints(login_url=LOGIN), HttpClient(sleep=lambda seconds: None),
                                  check_mode=check_mode, remember=remember)
    return authenticator, authenticator.token()


def lock_is_free(path):
    return subprocess.call([sys.executable, "-c", TRY_LOCK, str(path) + ".lock"]) == 0


@pytest.fixture
def entra(transport):
    transport.handler = FakeEntra(LOGIN, TENANT)
    return transport.handler


@pytest.fixture
def umask_zero():
    """The most permissive umask, so that only the code's own choices make files private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


# ----- MSAL's cache, really serialized


def test_second_sign_in_takes_the_token_from_the_file(entra, tmp_path):
    cache = tmp_path / "cache.json"
    first_authenticator, first = sign_in(cache)
    assert first.source == "identity_provider"
    saved = json.loads(cache.read_text())
    assert [entry["secret"] for entry in saved["AccessToken"].values()] == [entra.access_token]
    assert "s3cr3t" not in cache.read_text(), "the client secret is never cached"
    second_authenticator, second = sign_in(cache)
    assert second.source == "cache"
    assert second.access_token == first.access_token
    assert len(entra.token_requests) == 1
    assert first_authenticator.warnings == second_authenticator.warnings == []


def test_cache_file_and_lock_file_are_private(entra, tmp_path, umask_zero):
    cache = tmp_path / "cache.json"
    sign_in(cache)
    assert mode(cache) == 0o600
    assert mode(str(cache) + ".lock") == 0o600


def test_a_cache_hit_leaves_the_file_alone(entra, tmp_path):
    cache = tmp_path / "cache.json"
    sign_in(cache)
    before = os.stat(str(cache))
    authenticator, token = sign_in(cache)
    after = os.stat(str(cache))
    assert token.source == "cache"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_cache_of_another_tenant_or_app_is_not_used(entra, tmp_path):
    cache = tmp_path / "cache.json"
    sign_in(cache)
    authenticator, token = sign_in(cache, client_id="22222222-2222-3333-4444-555555555555")
    assert token.source == "identity_provider"
    assert len(entra.token_requests) == 2
    assert len(json.loads(cache.read_text())["AccessToken"]) == 2, "both apps' tokens are kept"


def test_write_replaces_the_file_atomically(entra, tmp_path, monkeypatch):
    cache = tmp_path / "cache.json"
    cache.write_text("")
    inode = os.stat(str(cache)).st_ino
    replaced = []
    real_replace = os.replace

    def replace(source, target):
        replaced.append((os.path.dirname(source), os.path.basename(source), target))
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    sign_in(cache)
    assert len(replaced) == 1
    folder, name, target = replaced[0]
    assert folder == str(tmp_path) and name.startswith(".cache.json.") and target == str(cache)
    assert os.stat(str(cache)).st_ino != inode
    assert sorted(os.listdir(str(tmp_path))) == ["cache.json", "cache.json.lock"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    cache = tmp_path / "cache.json"
    cache.write_text('{"AccessToken": {}}')

    class Unserializable(msal.SerializableTokenCache):
        def serialize(self):
            raise IOError("disk full")

    cache_file = TokenCacheFile(str(cache), Unserializable)
    with pytest.raises(InputError, match="Cannot use token_cache_path .*disk full"):
        with cache_file:
            cache_file.cache.has_state_changed = True
    assert cache.read_text() == '{"AccessToken": {}}'
    assert sorted(os.listdir(str(tmp_path))) == ["cache.json", "cache.json.lock"]
    assert lock_is_free(cache), "the lock is released after a failed write"


def test_path_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cache_file = TokenCacheFile("~/cache.json", msal.SerializableTokenCache)
    assert cache_file.path == str(tmp_path / "cache.json")
    with cache_file:
        cache_file.cache.has_state_changed = True
    assert (tmp_path / "cache.json").exists()


# ----- broken or unsafe files


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '"a string"', "null", "\xff\xfe garbage"])
def test_unreadable_cache_is_replaced_with_a_warning(entra, tmp_path, content):
    cache = tmp_path / "cache.json"
    cache.write_bytes(content.encode("latin-1"))
    os.chmod(str(cache), 0o600)
    authenticator, token = sign_in(cache)
    assert token.source == "identity_provider"
    assert len(authenticator.warnings) == 1
    assert str(cache) in authenticator.warnings[0] and "could not be read as a token cache" in authenticator.warnings[0]
    assert json.loads(cache.read_text())["AccessToken"], "overwritten with the new cache"


def test_unreadable_cache_is_overwritten_even_when_the_sign_in_fails(transport, tmp_path):
    transport.handler = FakeEntra(LOGIN, TENANT, token_answer=make_response(401, {
        "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.",
        "error_codes": [7000215]}))
    cache = tmp_path / "cache.json"
    cache.write_text("{not json")
    with pytest.raises(AuthenticationError):
        sign_in(cache)
    assert isinstance(json.loads(cache.read_text()), dict)


def test_empty_cache_file_is_not_a_problem(entra, tmp_path):
    cache = tmp_path / "cache.json"
    cache.write_text("  \n")
    os.chmod(str(cache), 0o600)
    authenticator, token = sign_in(cache)
    assert authenticator.warnings == []
    assert token.source == "identity_provider"
    assert json.loads(cache.read_text())["AccessToken"]


@pytest.mark.parametrize("content", [
    '{"AccessToken": []}',
    '{"AccessToken": {"key": "not an entry"}}',
], ids=["not-a-token-cache", "entries-of-the-wrong-shape"])
def test_a_json_object_of_the_wrong_shape_is_replaced_with_a_warning(entra, tmp_path, content):
    cache = tmp_path / "cache.json"
    cache.write_text(content)
    os.chmod(str(cache), 0o600)
    authenticator, token = sign_in(cache)
    assert token.source == "identity_provider"
    assert any("could not be read as a token cache" in warning for warning in authenticator.warnings)


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o606])
def test_cache_readable_by_others_is_made_private_with_a_warning(entra, tmp_path, loose):
    cache = tmp_path / "cache.json"
    sign_in(cache)
    os.chmod(str(cache), loose)
    authenticator, token = sign_in(cache)
    assert token.source == "cache", "the tokens in it are still used"
    assert mode(cache) == 0o600
    assert authenticator.warnings == ["token_cache_path '%s' was readable by others (mode %o); it is now 0600." % (cache, loose)]


def test_missing_folder(tmp_path):
    path = tmp_path / "missing" / "cache.json"
    with pytest.raises(InputError) as raised:
        with TokenCacheFile(str(path), msal.SerializableTokenCache):
            pass  # pragma: no cover
    assert raised.value.message == "The folder of token_cache_path '%s' does not exist." % path
    assert not (tmp_path / "missing").exists()


def test_a_folder_as_cache_path_is_a_clear_error(entra, tmp_path):
    with pytest.raises(InputError, match="token_cache_path '%s' is not a regular file" % tmp_path):
        sign_in(tmp_path)
    assert entra.token_requests == []


def test_a_folder_that_cannot_be_written_is_a_clear_error(entra, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(InputError, match="Cannot use the folder of token_cache_path '%s': Permission denied" % tmp_path):
        sign_in(tmp_path / "cache.json")


# ----- symbolic links: refused, never followed


def test_a_symlinked_cache_is_refused_and_its_target_left_alone(entra, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    os.chmod(str(target), 0o644)
    cache = tmp_path / "cache.json"
    os.symlink(str(target), str(cache))
    with pytest.raises(InputError) as raised:
        sign_in(cache)
    assert raised.value.message.startswith("Refusing token_cache_path '%s': it is a symbolic link" % cache)
    assert mode(target) == 0o644, "not chmodded through the link"
    assert target.read_text() == "{}"
    assert os.path.islink(str(cache))
    assert entra.token_requests == [], "refused before signing in"


def test_a_symlinked_lock_is_refused_and_nothing_created_through_it(entra, tmp_path):
    target = tmp_path / "other" / "planted.lock"
    target.parent.mkdir()
    cache = tmp_path / "cache.json"
    os.symlink(str(target), str(cache) + ".lock")
    with pytest.raises(InputError) as raised:
        sign_in(cache)
    assert raised.value.message.startswith("Refusing the lock file of token_cache_path '%s.lock': it is a symbolic "
                                           "link" % cache)
    assert not target.exists(), "the lock was not created through the link"
    assert not cache.exists()


def test_a_symlinked_folder_above_the_cache_is_fine(entra, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(str(real), str(tmp_path / "linked"))
    sign_in(tmp_path / "linked" / "cache.json")
    assert (real / "cache.json").exists()


# ----- check mode changes nothing


def test_check_mode_creates_neither_the_cache_nor_its_lock(entra, tmp_path):
    cache = tmp_path / "cache.json"
    authenticator, token = sign_in(cache, check_mode=True)
    assert token.source == "identity_provider"
    assert os.listdir(str(tmp_path)) == []


def test_check_mode_reads_the_cache_and_leaves_it_as_it_was(entra, tmp_path):
    cache = tmp_path / "cache.json"
    sign_in(cache)
    os.chmod(str(cache), 0o644)
    before = cache.read_text()
    authenticator, token = sign_in(cache, check_mode=True, client_id="22222222-2222-3333-4444-555555555555")
    assert token.source == "identity_provider", "another app: not in the cache"
    assert cache.read_text() == before, "the new token is not stored"
    assert mode(cache) == 0o644
    assert authenticator.warnings == ["token_cache_path '%s' is readable by others (mode 644); it would be made 0600 "
                                      "(not in check mode)." % cache]
    authenticator, token = sign_in(cache, check_mode=True)
    assert token.source == "cache"


# ----- what the cache holds is hidden from the output


def test_every_token_in_the_cache_is_remembered(entra, tmp_path):
    cache = tmp_path / "cache.json"
    sign_in(cache)
    data = json.loads(cache.read_text())
    data["RefreshToken"] = {"rt-key": {"secret": "a-refresh-token-from-an-earlier-run", "credential_type": "RefreshToken"}}
    cache.write_text(json.dumps(data))
    os.chmod(str(cache), 0o600)
    remembered = set()
    sign_in(cache, remember=remembered.add)
    assert {entra.access_token, "a-refresh-token-from-an-earlier-run"} <= remembered


# ----- the lock


def test_lock_is_held_from_reading_to_writing(tmp_path):
    cache = tmp_path / "cache.json"
    states = []

    class Watched(msal.SerializableTokenCache):
        def deserialize(self, state):
            states.append(("read", lock_is_free(cache)))
            super(Watched, self).deserialize(state)

        def serialize(self):
            states.append(("write", lock_is_free(cache)))
            return super(Watched, self).serialize()

    cache.write_text("{}")
    with TokenCacheFile(str(cache), Watched) as cache_file:
        states.append(("use", lock_is_free(cache)))
        cache_file.cache.has_state_changed = True
    states.append(("after", lock_is_free(cache)))
    assert states == [("read", False), ("use", False), ("write", False), ("after", True)]


def test_waits_for_another_process_that_holds_the_lock(tmp_path):
    cache = tmp_path / "cache.json"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(cache) + ".lock"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, universal_newlines=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        entered = threading.Event()

        def use_cache():
            with TokenCacheFile(str(cache), msal.SerializableTokenCache):
                entered.set()

        waiter = threading.Thread(target=use_cache)
        waiter.start()
        assert not entered.wait(0.5), "entered while another process held the lock"
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert entered.wait(10), "did not enter after the other process released the lock"
        waiter.join(10)
    finally:
        holder.stdin.close()
        holder.wait(10)


def test_parallel_sign_ins_share_one_token(transport, tmp_path):
    """Two tasks with one cache file at once: the second waits for the first and finds its token."""
    entra = FakeEntra(LOGIN, TENANT, access_token=make_jwt({"aud": "https://graph.microsoft.com", "n": 1}))

    def slow_entra(seen):
        if seen.path.endswith("/token"):
            time.sleep(0.3)  # long enough for the other task to reach the cache meanwhile
        return entra(seen)

    transport.handler = slow_entra
    cache = tmp_path / "cache.json"
    results, errors = [], []

    def task():
        try:
            results.append(sign_in(cache)[1])
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=task), threading.Thread(target=task)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert sorted(token.source for token in results) == ["cache", "identity_provider"]
    assert len(entra.token_requests) == 1
    assert results[0].access_token == results[1].access_token
