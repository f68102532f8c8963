# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MSAL's token cache in a file: readable only by its owner, locked while in use, written atomically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError
from ansible_collections.secops.m365_defender.plugins.module_utils._files import FolderError, write_private

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

FILE_MODE = 0o600


class TokenCacheFile(object):
    """A context manager around msal.SerializableTokenCache kept in `path`.

    The lock (a sibling `.lock` file) is held from reading to writing, so parallel forks that share the
    file take turns: the first signs in, the others find its token in the cache.

    Neither the cache nor its lock may be a symbolic link: both are opened with O_NOFOLLOW and changed
    only through the open descriptor, so a link planted there cannot turn the chmod, the lock's creation
    or the write onto another file. In check mode nothing is created or changed: the cache is read, under
    its lock if the lock exists, and a new token is not stored.

    `remember` is given every token the cache holds, so that the task hides them from its output.
    """

    def __init__(self, path, cache_class, check_mode=False, remember=None):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.cache = cache_class()
        self.check_mode = check_mode
        self.remember = remember or _forget
        self.warnings = []
        self._lock = None

    def __enter__(self):
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise InputError("The folder of token_cache_path '%s' does not exist." % self.path)
        self._lock = self._open_lock()
        try:
            if self._lock is not None and fcntl is not None:
                fcntl.flock(self._lock, fcntl.LOCK_EX)
            self._load()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        try:
            if self.cache.has_state_changed and not self.check_mode:
                self._save()
        finally:
            self._release()

    def _release(self):
        if self._lock is None:
            return
        if fcntl is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        os.close(self._lock)
        self._lock = None

    def _open_lock(self):
        """The lock file's descriptor; None in check mode when there is no lock file (none is created then)."""
        lock_path = self.path + ".lock"
        flags = os.O_RDWR | os.O_NOFOLLOW | (0 if self.check_mode else os.O_CREAT)
        try:
            return os.open(lock_path, flags, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ENOENT and self.check_mode:
                return None
            raise self._file_error(lock_path, exc, "the lock file of token_cache_path")

    def _load(self):
        try:
            handle = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return
            raise self._file_error(self.path, exc, "token_cache_path")
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            os.close(handle)
            raise InputError("token_cache_path '%s' is not a regular file; give the path of a file (it is created "
                             "when missing)." % self.path)
        with os.fdopen(handle, "rb") as stream:
            self._protect(handle, status.st_mode & 0o777)
            data = stream.read()
        self._deserialize(data)

    def _protect(self, handle, mode):
        """Make the cache readable only by its owner, through the open descriptor."""
        if not mode & 0o077:
            return
        if self.check_mode:
            self.warnings.append("token_cache_path '%s' is readable by others (mode %o); it would be made 0600 "
                                 "(not in check mode)." % (self.path, mode))
            return
        os.fchmod(handle, FILE_MODE)
        self.warnings.append("token_cache_path '%s' was readable by others (mode %o); it is now 0600."
                             % (self.path, mode))

    def _deserialize(self, data):
        try:
            text = data.decode("utf-8")
            if text.strip():
                data = json.loads(text)
                self._check_shape(data)
                self.cache.deserialize(text)
                self._remember_secrets(data)
        except (ValueError, UnicodeError):
            self.warnings.append("token_cache_path '%s' could not be read as a token cache; signing in afresh%s."
                                 % (self.path, "" if self.check_mode else " and overwriting it"))
            self.cache.has_state_changed = True

    @staticmethod
    def _check_shape(data):
        """MSAL's format: an object of credential kinds, each an object of entries, each an object."""
        if not isinstance(data, dict) or not all(
                isinstance(entries, dict) and all(isinstance(entry, dict) and _numbers_where_msal_wants_them(entry)
                                                  for entry in entries.values())
                for entries in data.values()):
            raise ValueError("not an MSAL token cache")

    def _remember_secrets(self, data):
        """Every token in the cache (access, refresh and ID tokens are entries' `secret`)."""
        for entries in data.values():
            for entry in entries.values():
                if isinstance(entry.get("secret"), str) and entry["secret"]:
                    self.remember(entry["secret"])

    def _save(self):
        try:
            write_private(self.path, lambda stream: stream.write(self.cache.serialize()))
        except FolderError as exc:
            raise self._file_error(os.path.dirname(self.path), exc, "the folder of token_cache_path")
        except OSError as exc:
            raise self._file_error(self.path, exc, "token_cache_path")

    @staticmethod
    def _file_error(path, exc, what):
        """A clear error for a file of the cache that cannot be used."""
        if exc.errno == errno.ELOOP:
            return InputError("Refusing %s '%s': it is a symbolic link, which could turn the token cache, its mode "
                              "change or its lock onto another file; give the real file's path." % (what, path))
        return InputError("Cannot use %s '%s': %s." % (what, path, exc.strerror or exc))


def _numbers_where_msal_wants_them(entry):
    """MSAL turns these fields into numbers with int(); anything else would fail in the middle of a sign-in."""
    for field in ("expires_on", "extended_expires_on", "refresh_on", "cached_at"):
        if field in entry:
            try:
                int(entry[field])
            except (TypeError, ValueError):
                return False
    return True


def _forget(value):
    """The default `remember`: nobody to tell."""
