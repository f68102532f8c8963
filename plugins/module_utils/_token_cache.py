# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MSAL's token cache in a file: readable only by its owner, locked while in use, written atomically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible_collections.secops.m365_defender.plugins.module_utils._errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

FILE_MODE = 0o600


class TokenCacheFile(object):
    """A context manager around msal.SerializableTokenCache kept in `path`.

    The lock (a sibling `.lock` file) is held from reading to writing, so parallel forks that share the
    file take turns: the first signs in, the others find its token in the cache.
    """

    def __init__(self, path, cache_class):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.cache = cache_class()
        self.warnings = []
        self._lock = None

    def __enter__(self):
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise InputError("The folder of token_cache_path '%s' does not exist." % self.path)
        self._lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        if fcntl is not None:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._load()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        try:
            if self.cache.has_state_changed:
                self._save()
        finally:
            if fcntl is not None:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)

    def _load(self):
        if not os.path.exists(self.path):
            return
        mode = os.stat(self.path).st_mode & 0o777
        if mode & 0o077:
            self.warnings.append("token_cache_path '%s' was readable by others (mode %o); it is now 0600."
                                 % (self.path, mode))
            os.chmod(self.path, FILE_MODE)
        try:
            with open(self.path, "r") as handle:
                text = handle.read()
            if text.strip():
                data = json.loads(text)
                # MSAL's format: an object of credential kinds, each an object of entries.
                if not isinstance(data, dict) or not all(isinstance(entries, dict) for entries in data.values()):
                    raise ValueError("not an MSAL token cache")
                self.cache.deserialize(text)
        except (ValueError, UnicodeError):
            self.warnings.append("token_cache_path '%s' could not be read as a token cache; signing in afresh "
                                 "and overwriting it." % self.path)
            self.cache.has_state_changed = True

    def _save(self):
        folder = os.path.dirname(self.path)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".%s." % os.path.basename(self.path))
        try:
            os.fchmod(handle, FILE_MODE)
            with os.fdopen(handle, "w") as stream:
                stream.write(self.cache.serialize())
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
